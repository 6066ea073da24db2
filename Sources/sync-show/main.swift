import SyncCommands

ShowCommand.main()
