#!/usr/bin/env bash
#   The encrypted chat through an untrusted broker, on one machine:
#
#     1. keys for alice, bob and carol, made with curve_keygen, and for
#        each of them a friends directory with the two others' public
#        .key files (and nothing else)
#     2. chat_broker on tcp://127.0.0.1:* (any free port), logging every
#        blob it forwards
#     3. three scripted chat clients at once: greetings to all, private
#        messages, answers; each script ends with what it must have
#        received, and a client exits 0 only if all of it came in time
#     4. the transcript of each client
#     5. the proof: the broker's byte log holds none of the lines that
#        were sent (grep -F for each one), only ciphertext
#
#   Usage: demo.sh [BUILD_DIR]   (default: build; needs the targets
#   curve_keygen, chat and chat_broker). Exit status 0 only if every
#   client succeeded and no plaintext was found in the log.
#
#   No fixed ports and no sleeps: the broker prints the endpoint it bound,
#   and each client prints a first line once it has connected; clients
#   start one after the other on that line, and the first to speak
#   (carol) starts last. Everything else waits on the scripts' expect
#   lines, each bounded in time by the client itself.
set -eu

build=${1:-build}
build=$(cd "$build" && pwd)
keygen=$build/curve_keygen
chat=$build/examples/chat/chat
broker=$build/examples/chat/chat_broker
for program in "$keygen" "$chat" "$broker"; do
    if [ ! -x "$program" ]; then
        echo "demo: $program is missing (cmake --build $build --target" \
             "curve_keygen chat chat_broker)" >&2
        exit 1
    fi
done
users="alice bob carol"
limit=120                       #   Last-resort bound on any one process

scratch=$(mktemp -d /tmp/curve-chat-XXXXXX)
broker_pid=""
passed=false
cleanup () {
    if [ -n "$broker_pid" ]; then
        kill "$broker_pid" 2>/dev/null || true
    fi
    if $passed; then
        rm -rf "$scratch"
    else
        echo "demo: files kept in $scratch" >&2
    fi
}
trap cleanup EXIT

echo "== 1. Keys (curve_keygen), in $scratch"
for user in $users; do
    "$keygen" "$user" --dir "$scratch/$user" --meta "name=$user" \
        > "$scratch/$user.public" 2> "$scratch/$user.keygen"
    mkdir -m 700 "$scratch/$user/friends"
    printf '   %-6s %s\n' "$user" "$(cat "$scratch/$user.public")"
done
for user in $users; do
    for friend in $users; do
        if [ "$friend" != "$user" ]; then
            cp "$scratch/$friend/$friend.key" "$scratch/$user/friends/"
        fi
    done
done
echo "   each user keeps NAME.key_secret (mode 0600) and a friends"
echo "   directory with the others' public .key files, e.g. alice:"
(cd "$scratch" && ls -l alice alice/friends | sed 's/^/      /')

echo
echo "== 2. The broker (no keys), logging what it forwards"
log=$scratch/broker.log
coproc BROKER {
    exec timeout "$limit" "$broker" 'tcp://127.0.0.1:*' --log "$log" --stdin \
        2> "$scratch/broker.err"
}
broker_pid=$BROKER_PID
broker_in=${BROKER[1]}
endpoint=""
IFS= read -r -t 20 endpoint <&"${BROKER[0]}" || true
if [ -z "$endpoint" ]; then
    echo "demo: the broker did not start:" >&2
    cat "$scratch/broker.err" >&2
    exit 1
fi
echo "   chat_broker listening on $endpoint, log $log"

#   The scripts. Plain lines go to every friend, "@name text" to one;
#   "expect TEXT" waits for a received line containing TEXT. Each script
#   ends by saying it has everything and waiting for the others to say
#   so, which proves that what it sent arrived.
cat > "$scratch/carol.script" <<'EOF'
# carol speaks first, to everybody
Morning both! Lunch on Friday at the river cafe?
expect [bob] Friday works for me
@bob Could you book a table for three at one?
expect [alice] Friday is good, see you there
expect [bob] Booked: a table for three at one o'clock
carol has everything
expect [alice] alice has everything
expect [bob] bob has everything
EOF
cat > "$scratch/bob.script" <<'EOF'
# bob answers carol, then alice in private
expect [carol] Morning both! Lunch on Friday
Friday works for me
expect [alice] Meet at the usual place at noon
@alice Noon it is. Not a word to carol about her birthday cake
expect [carol] Could you book a table for three
@carol Booked: a table for three at one o'clock
expect [alice] Friday is good, see you there
bob has everything
expect [alice] alice has everything
expect [carol] carol has everything
EOF
cat > "$scratch/alice.script" <<'EOF'
# alice answers everybody, and tells bob something in private
expect [carol] Morning both! Lunch on Friday
expect [bob] Friday works for me
Friday is good, see you there
@bob Meet at the usual place at noon, I will bring the candles
expect [bob] Noon it is
alice has everything
expect [bob] bob has everything
expect [carol] carol has everything
EOF

echo
echo "== 3. Three chat clients at once (alice, bob, carol)"
declare -A chat_pid copy_pid
for user in $users; do
    #   The client's first line says it is connected; the rest of its
    #   output is copied to a file by cat in the background
    fifo=$scratch/$user.fifo
    mkfifo "$fifo"
    timeout "$limit" "$chat" --name "$user" \
        --cert "$scratch/$user/$user.key_secret" \
        --friends "$scratch/$user/friends" --broker "$endpoint" \
        --script "$scratch/$user.script" < /dev/null > "$fifo" 2>&1 &
    chat_pid[$user]=$!
    exec {fifo_fd}< "$fifo"
    first=""
    IFS= read -r -t 20 first <&"$fifo_fd" || true
    printf '%s\n' "$first" > "$scratch/$user.out"
    cat <&"$fifo_fd" >> "$scratch/$user.out" &
    copy_pid[$user]=$!
    exec {fifo_fd}<&-
    echo "   started $user"
done
failed=""
for user in $users; do
    if ! wait "${chat_pid[$user]}"; then
        failed="$failed $user"
    fi
    wait "${copy_pid[$user]}" || true
done

echo
echo "== 4. Transcript (> sent, [name] received, * events)"
for user in $users; do
    echo "-- $user"
    sed "s/^/   $user | /" "$scratch/$user.out"
done

#   Stop the broker: close its standard input
exec {broker_in}>&-
broker_status=0
wait "$broker_pid" || broker_status=$?
broker_pid=""
if [ "$broker_status" != 0 ]; then
    echo "demo: chat_broker exited with status $broker_status" >&2
    cat "$scratch/broker.err" >&2
fi

#   hexdump -C FILE [OFFSET COUNT], with od where hexdump is missing
dump () {
    if command -v hexdump > /dev/null; then
        hexdump -C ${2:+-s "$2" -n "$3"} "$1"
    else
        od -A x -t x1z -v ${2:+-j "$2" -N "$3"} "$1"
    fi
}

echo
echo "== 5. What the broker saw: $log"
size=$(wc -c < "$log")
messages=$(grep -a -o MESSAGE "$log" | wc -l)
echo "   $size bytes, every blob the broker forwarded. CurveZMQ command"
echo "   names are in clear ($messages MESSAGE commands here); what they"
echo "   carry is ciphertext. The start of the log (handshakes):"
dump "$log" | head -n 12 | sed 's/^/   /'
echo "   ..."
first=$(grep -a -b -o MESSAGE "$log" | head -n 1 | cut -d: -f1)
if [ -n "$first" ]; then
    echo "   The first MESSAGE (a chat line or an acknowledgement, encrypted):"
    dump "$log" $((first - 1)) 96 | sed 's/^/   /'
fi
found=0
checked=0
for user in $users; do
    while IFS= read -r line; do
        case $line in
            ''|'#'*|'wait '*|'expect '*|/*) continue ;;
            @*) text=${line#* } ;;
            *) text=$line ;;
        esac
        checked=$((checked + 1))
        if grep -a -F -q -- "$text" "$log"; then
            echo "   PLAINTEXT FOUND in the broker's log: $text"
            found=$((found + 1))
        fi
    done < "$scratch/$user.script"
done
if [ "$size" -eq 0 ] || [ "$messages" -eq 0 ]; then
    echo "   the log is empty: nothing was checked" >&2
    found=$((found + 1))
fi
if [ "$found" -eq 0 ]; then
    echo "   grep -F for each of the $checked lines sent: none is in the log"
fi

echo
if [ -z "$failed" ] && [ "$found" -eq 0 ] && [ "$broker_status" = 0 ]; then
    echo "demo: every client got what it expected, and the broker saw only" \
         "ciphertext"
    passed=true
    exit 0
fi
[ -n "$failed" ] && echo "demo: FAILED: clients:$failed" >&2
[ "$found" -ne 0 ] && echo "demo: FAILED: plaintext in the broker's log" >&2
echo "demo: FAILED" >&2
exit 1
