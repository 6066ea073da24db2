import SyncCommands

ConflictsCommand.main()
