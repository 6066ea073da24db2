import SyncCommands

ServeCommand.main()
