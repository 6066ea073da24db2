import SyncCommands

ConfirmCommand.main()
