# fish completion for sync: completes the command, then hands over to sync-COMMAND's completion.
function __sync_delegate
    set -l tokens (commandline -opc)
    complete -C "sync-$tokens[2] $tokens[3..-1] "(commandline -ct)
end
complete -c sync -f -n '__fish_use_subcommand' -a help -d 'show a command\'s manual'
complete -c sync -f -n '__fish_use_subcommand' -a init -d 'Register a directory as a synchronized folder.'
complete -c sync -f -n '__fish_use_subcommand' -a folders -d 'List the folders of this node.'
complete -c sync -f -n '__fish_use_subcommand' -a config -d 'Read and change a folder\'s settings.'
complete -c sync -f -n '__fish_use_subcommand' -a watch -d 'Print a line for every change in a folder (inotify).'
complete -c sync -f -n '__fish_use_subcommand' -a commit -d 'Record a folder\'s changes in its index and history.'
complete -c sync -f -n '__fish_use_subcommand' -a log -d 'List the changes recorded in a folder\'s history.'
complete -c sync -f -n '__fish_use_subcommand' -a show -d 'Show a recorded change, or a file as it was.'
complete -c sync -f -n '__fish_use_subcommand' -a restore -d 'Bring back an earlier version of a file or directory.'
complete -c sync -f -n '__fish_use_subcommand' -a status -d 'Show the state of folders.'
complete -c sync -f -n '__fish_use_subcommand' -a keys -d 'Show this node\'s identity and manage which peers may see each folder.'
complete -c sync -f -n '__fish_use_subcommand' -a pull -d 'Bring a folder\'s changes from a peer over SSH.'
complete -c sync -f -n '__fish_use_subcommand' -a serve -d 'Serve this node\'s folders to one peer over standard input and output.'
complete -c sync -f -n '__fish_use_subcommand' -a conflicts -d 'List conflict copies and how to keep either version.'
complete -c sync -f -n '__fish_use_subcommand' -a join -d 'Join a folder of another node with the token its sync keys invite printed.'
complete -c sync -f -n '__fish_use_subcommand' -a versions -d 'List every version of a file that history keeps.'
complete -c sync -f -n '__fish_use_subcommand' -a diff -d 'Show what changed between two recorded states of a folder.'
complete -c sync -f -n '__fish_use_subcommand' -a notify -d 'Tell peers that a folder moved, from sync-commit\'s lines.'
complete -c sync -f -n '__fish_use_subcommand' -a peer -d 'Add, list and remove the peers a folder syncs with.'
complete -c sync -f -n '__fish_use_subcommand' -a daemon -d 'Keep every folder in sync, live (what sync up runs).'
complete -c sync -f -n '__fish_use_subcommand' -a confirm -d 'Let a change that the deletion guard held back go to peers.'
complete -c sync -f -n '__fish_use_subcommand' -a prune -d 'Expire old versions from a folder\'s history and repack what stays.'
complete -c sync -f -n '__fish_seen_subcommand_from help' -a 'init folders config watch commit log show restore status keys pull serve conflicts join versions diff notify peer daemon confirm prune'
complete -c sync -n 'not __fish_use_subcommand; and not __fish_seen_subcommand_from help' -a '(__sync_delegate)'
