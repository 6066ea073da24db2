import SyncCommands

WatchCommand.main()
