import SyncCommands

ConfigCommand.main()
