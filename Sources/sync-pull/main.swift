import SyncCommands

PullCommand.main()
