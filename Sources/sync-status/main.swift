import SyncCommands

StatusCommand.main()
