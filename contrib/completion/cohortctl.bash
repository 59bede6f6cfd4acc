# bash completion for cohortctl(1): its commands, the global options, each
# command's options and subcommands, files where a command reads one, method
# names for `call`, and for `explain` the ids of the local cohorts of the
# daemon that answers (`cohortctl --json definitions get`; nothing, quietly,
# when none does).
#
# Installed as /usr/share/bash-completion/completions/cohortctl (loaded on
# demand by bash-completion); without bash-completion, source this file.
# The lists below follow `cohortctl --help`, `cohortctl COMMAND --help` and
# docs/protocol.md: integration_completion fails when they drift apart.

_cohortctl_commands="status id aliases consent track view cohorts activations definitions preview explain
sync watch call history config reload dead-letters help"
_cohortctl_global_options="--socket --json --timeout --help --version"
_cohortctl_methods="status config.get config.reload identity.get identity.set_aliases identity.reset
consent.set definitions.put definitions.get definitions.reload definitions.preview subscribe track
history.get view.start view.progress view.pause view.resume view.end cohorts.get explain
activations.get sync.now dead_letters.get"

# The options of a command (and of its subcommand, for aliases and view).
_cohortctl_options() {
    case $1 in
        aliases) [[ $2 == set ]] && echo "--hash-email --replace" ;;
        track) echo "--time --view" ;;
        view) [[ $2 == start ]] && echo "--type --duration --url --event" ;;
        activations) echo "--timeout --url" ;;
        sync) echo "--timeout" ;;
        watch) echo "--count" ;;
        history) echo "--name" ;;
    esac
    echo "--help --json"
}

# The ids of the daemon's local cohorts; nothing (and no message) when no
# daemon answers within a second. $1: the cohortctl to run; the rest: the
# --socket option given on the line, if any.
_cohortctl_cohort_ids() {
    local ctl=$1 out
    shift
    out=$("$ctl" "$@" --timeout 1000 --json definitions get 2>/dev/null) || return 0
    # One line of JSON: {"cohorts":[{"id":"1001",...},...]}.
    out=${out//\{\"id\":\"/$'\n'@}
    local line
    while IFS= read -r line; do
        [[ $line == @* ]] || continue
        line=${line#@}
        printf '%s\n' "${line%%\"*}"
    done <<<"$out"
}

_cohortctl_files() {
    if declare -F _filedir >/dev/null; then
        _filedir
    else
        compopt -o filenames 2>/dev/null
        local IFS=$'\n'
        COMPREPLY=($(compgen -f -- "$1"))
    fi
}

_cohortctl() {
    local cur prev words cword
    if declare -F _get_comp_words_by_ref >/dev/null; then
        # bash-completion: --socket=PATH stays one word.
        _get_comp_words_by_ref -n =: cur prev words cword
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi
    COMPREPLY=()

    # The global options before the command, and where the command is.
    local i=1 w command="" at=0
    local -a socket=()
    while ((i < cword)); do
        w=${words[i]}
        case $w in
            --socket | --timeout)
                [[ $w == --socket ]] && socket=(--socket "${words[i + 1]}")
                ((i += 2))
                # Without bash-completion, --socket=PATH is three words.
                if [[ ${words[i - 1]} == "=" ]]; then
                    [[ $w == --socket ]] && socket=(--socket "${words[i]}")
                    ((i += 1))
                fi
                continue
                ;;
            --socket=*) socket=(--socket "${w#--socket=}") ;;
            -*) ;;
            *)
                command=$w
                at=$i
                break
                ;;
        esac
        ((i += 1))
    done

    if [[ -z $command ]]; then
        case $prev in
            --socket)
                _cohortctl_files "$cur"
                return
                ;;
            --timeout) return ;;
        esac
        if [[ $cur == --socket=* ]]; then
            _cohortctl_files "${cur#--socket=}"
            return
        fi
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$_cohortctl_global_options" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$_cohortctl_commands" -- "$cur"))
        fi
        return
    fi

    # The command's own words: n is how many come before the current one,
    # sub the first of them (a subcommand).
    local n=$((cword - at - 1)) sub=""
    ((n > 0)) && sub=${words[at + 1]}

    # An option's value.
    case $prev in
        --type)
            COMPREPLY=($(compgen -W "video audio" -- "$cur"))
            return
            ;;
        --time | --view | --duration | --url | --event | --timeout | --count | --name) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_cohortctl_options "$command" "$sub")" -- "$cur"))
        return
    fi

    case $command in
        help) ((n == 0)) && COMPREPLY=($(compgen -W "${_cohortctl_commands/help/}" -- "$cur")) ;;
        id) ((n == 0)) && COMPREPLY=($(compgen -W "reset" -- "$cur")) ;;
        aliases) ((n == 0)) && COMPREPLY=($(compgen -W "set get" -- "$cur")) ;;
        consent) ((n == 0)) && COMPREPLY=($(compgen -W "on off" -- "$cur")) ;;
        view) ((n == 0)) && COMPREPLY=($(compgen -W "start pause resume progress end" -- "$cur")) ;;
        definitions)
            if ((n == 0)); then
                COMPREPLY=($(compgen -W "put get reload" -- "$cur"))
            elif ((n == 1)) && [[ $sub == put ]]; then
                _cohortctl_files "$cur"
            fi
            ;;
        preview | reload) ((n == 0)) && _cohortctl_files "$cur" ;;
        call) ((n == 0)) && COMPREPLY=($(compgen -W "$_cohortctl_methods" -- "$cur")) ;;
        explain)
            ((n == 0)) && COMPREPLY=($(compgen -W "$(_cohortctl_cohort_ids "${words[0]}" "${socket[@]}")" -- "$cur"))
            ;;
    esac
}

complete -F _cohortctl cohortctl
