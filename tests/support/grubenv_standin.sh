# A stand-in for the loader's media/agent/grubenv.sh (tests only): the same four
# functions, a GRUB-style environment block (1024 bytes, '# GRUB Environment Block'
# then KEY=value lines, '#'-padded) at a byte OFFSET (a multiple of 1024) of DEV.

genv_read() {  # genv_read DEV OFFSET: sets ORDER A_OK B_OK A_LEFT B_LEFT TRIES
    ORDER="A B" A_OK=0 B_OK=0 A_LEFT=3 B_LEFT=3 TRIES=3
    dd if="$1" bs=1024 skip=$(($2 / 1024)) count=1 2>/dev/null | tr '#' '\n' > /tmp/genv.$$
    while IFS='=' read -r k v; do
        case "$k" in
            ORDER) ORDER=$v ;; A_OK) A_OK=$v ;; B_OK) B_OK=$v ;;
            A_LEFT) A_LEFT=$v ;; B_LEFT) B_LEFT=$v ;; TRIES) TRIES=$v ;;
        esac
    done < /tmp/genv.$$
    rm -f /tmp/genv.$$
}

genv_write() {  # genv_write DEV OFFSET
    body=$(printf '# GRUB Environment Block\nORDER=%s\nA_OK=%s\nB_OK=%s\nA_LEFT=%s\nB_LEFT=%s\nTRIES=%s\n' \
        "$ORDER" "$A_OK" "$B_OK" "$A_LEFT" "$B_LEFT" "$TRIES")
    { printf '%s\n' "$body"; head -c $((1024 - ${#body} - 1)) /dev/zero | tr '\0' '#'; } \
        | dd of="$1" bs=1024 seek=$(($2 / 1024)) count=1 conv=notrunc 2>/dev/null
}

genv_activate() {  # genv_activate SLOT: try SLOT first from now on
    case "$1" in A) ORDER="A B"; A_OK=0; A_LEFT=$TRIES ;; B) ORDER="B A"; B_OK=0; B_LEFT=$TRIES ;; *) return 1 ;; esac
}

genv_confirm() {  # genv_confirm SLOT: SLOT booted fine
    case "$1" in A) A_OK=1; A_LEFT=$TRIES ;; B) B_OK=1; B_LEFT=$TRIES ;; *) return 1 ;; esac
}
