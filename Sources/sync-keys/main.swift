import SyncCommands

KeysCommand.main()
