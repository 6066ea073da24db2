import SyncCommands

DiffCommand.main()
