import SyncCommands

JoinCommand.main()
