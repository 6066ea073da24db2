import SyncCommands

InitCommand.main()
