import SyncCommands

ForgetCommand.main()
