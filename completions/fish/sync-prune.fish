function __sync-prune_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __sync-prune_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __sync-prune_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __sync-prune_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __sync-prune_parse_tokens -S
    set -l unparsed_tokens (__sync-prune_tokens -pc)
    switch $unparsed_tokens[1]
    case 'sync-prune'
        __sync-prune_parse_subcommand 1 'keep-within=' 'keep-last=' 'max-size=' 'thin' 'forget-peer=+' 'dry-run' 'json' 'h/help'
        switch $unparsed_tokens[1]
        case 'help'
            __sync-prune_parse_subcommand -r 1 
        end
    end
end

function __sync-prune_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __sync-prune_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __sync-prune_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __sync-prune_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__sync-prune_tokens -p)
    if test -z "$(__sync-prune_tokens -t)"
        set -l index (count (__sync-prune_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'sync-prune' -f
complete -c 'sync-prune' -n '__sync-prune_should_offer_completions_for_positional "sync-prune" -eq 1' -fa '(__sync-prune_complete_directories)'
complete -c 'sync-prune' -n '__sync-prune_should_offer_completions_for_flags_or_options "sync-prune" keep-within' -l 'keep-within' -d 'Drop versions older than this (90d, 12w; overrides history.keep-within).' -rfka ''
complete -c 'sync-prune' -n '__sync-prune_should_offer_completions_for_flags_or_options "sync-prune" keep-last' -l 'keep-last' -d 'Keep only this many newest versions (overrides history.keep-last).' -rfka ''
complete -c 'sync-prune' -n '__sync-prune_should_offer_completions_for_flags_or_options "sync-prune" max-size' -l 'max-size' -d 'Keep newest versions while their content adds up to this (20G; overrides history.max-size).' -rfka ''
complete -c 'sync-prune' -n '__sync-prune_should_offer_completions_for_flags_or_options "sync-prune" thin' -l 'thin' -d 'Thin old versions, staggered (as history.thin staggered).'
complete -c 'sync-prune' -n '__sync-prune_should_offer_completions_for_flags_or_options "sync-prune"' -l 'forget-peer' -d 'Let deletion records expire without waiting for this peer (a node id) to see them.' -rfka ''
complete -c 'sync-prune' -n '__sync-prune_should_offer_completions_for_flags_or_options "sync-prune" dry-run' -l 'dry-run' -d 'Show what would go; change nothing.'
complete -c 'sync-prune' -n '__sync-prune_should_offer_completions_for_flags_or_options "sync-prune" json' -l 'json' -d 'Print JSON.'
complete -c 'sync-prune' -n '__sync-prune_should_offer_completions_for_flags_or_options "sync-prune" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sync-prune' -n '__sync-prune_should_offer_completions_for_positional "sync-prune" -eq 2' -fa 'help' -d 'Show subcommand help information.'