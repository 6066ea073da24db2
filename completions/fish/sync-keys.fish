function __sync-keys_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __sync-keys_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __sync-keys_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __sync-keys_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __sync-keys_parse_tokens -S
    set -l unparsed_tokens (__sync-keys_tokens -pc)
    switch $unparsed_tokens[1]
    case 'sync-keys'
        __sync-keys_parse_subcommand 3 'address=' 'host-key=' 'expires=' 'h/help'
        switch $unparsed_tokens[1]
        case 'help'
            __sync-keys_parse_subcommand -r 1 
        end
    end
end

function __sync-keys_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __sync-keys_parse_subcommand -S -a positional_count
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

function __sync-keys_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __sync-keys_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__sync-keys_tokens -p)
    if test -z "$(__sync-keys_tokens -t)"
        set -l index (count (__sync-keys_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'sync-keys' -f
complete -c 'sync-keys' -n '__sync-keys_should_offer_completions_for_positional "sync-keys" -eq 1' -fka 'id name allow deny list invite'
complete -c 'sync-keys' -n '__sync-keys_should_offer_completions_for_positional "sync-keys" -eq 2' -fa '(__sync-keys_complete_directories)'
complete -c 'sync-keys' -n '__sync-keys_should_offer_completions_for_positional "sync-keys" -eq 3' -F
complete -c 'sync-keys' -n '__sync-keys_should_offer_completions_for_flags_or_options "sync-keys" address' -l 'address' -d 'invite: where the other machine reaches this node\'s sshd, [USER@]HOST[:PORT].' -rfka ''
complete -c 'sync-keys' -n '__sync-keys_should_offer_completions_for_flags_or_options "sync-keys" host-key' -l 'host-key' -d 'invite: the public host key file of this node\'s sshd.' -rF
complete -c 'sync-keys' -n '__sync-keys_should_offer_completions_for_flags_or_options "sync-keys" expires' -l 'expires' -d 'invite: how long the token may be used, e.g. 30m, 24h, 7d.' -rfka ''
complete -c 'sync-keys' -n '__sync-keys_should_offer_completions_for_flags_or_options "sync-keys" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sync-keys' -n '__sync-keys_should_offer_completions_for_positional "sync-keys" -eq 4' -fa 'help' -d 'Show subcommand help information.'