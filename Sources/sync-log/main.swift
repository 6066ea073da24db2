import SyncCommands

LogCommand.main()
