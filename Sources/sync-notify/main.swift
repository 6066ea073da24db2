import SyncCommands

NotifyCommand.main()
