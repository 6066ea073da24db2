import SyncCommands

CommitCommand.main()
