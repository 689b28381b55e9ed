# shellcheck shell=sh
# The GRUB environment block that picks the system slot (POSIX sh on busybox: dd,
# sed, printf). Sourced by the installer agent and by the installed system; the
# Python twin is media/grubenv.py, the format and the rules docs/installer.md.
#
#   genv_read DEV OFFSET    sets ORDER A_OK B_OK A_LEFT B_LEFT TRIES from the block
#                           at byte OFFSET (512-aligned) of DEV; every missing or
#                           malformed value (a garbage block: all) gets its default
#   genv_activate SLOT      boot SLOT next with every try: ORDER="SLOT other",
#                           SLOT_OK=1, SLOT_LEFT=TRIES
#   genv_confirm SLOT       SLOT booted well: SLOT_OK=1, SLOT_LEFT=TRIES
#   genv_write DEV OFFSET   writes the six variables as ONE 512-byte sector
#                           (conv=notrunc,fsync): a power cut leaves the old or the
#                           new block, never a mix; the second sector (padding) is
#                           never rewritten
#
# It reads what GRUB reads for every block a writer makes (this library, GRUB's
# save_env, media/grubenv.py); a value with a backslash escape, which none writes,
# counts as malformed here.
#
# Example (activate slot B after writing it):
#   . ./grubenv.sh; genv_read /dev/sda2 "$ENV_OFFSET" && genv_activate B &&
#       genv_write /dev/sda2 "$ENV_OFFSET"

# shellcheck disable=SC2034  # ORDER ... TRIES are this library's output
genv_read() {
    ORDER='' A_OK='' B_OK='' A_LEFT='' B_LEFT='' TRIES=''
    # Only lines of the exact forms below come through, rewritten as assignments
    # of fixed characters, so eval sees nothing from the disk but those. As in GRUB,
    # a line without '=' runs into the next one that has one: that one is no
    # assignment then.
    _genv=$(dd if="$1" bs=512 skip=$(($2 / 512)) count=1 2>/dev/null | sed -n \
        -e '1{/^# GRUB Environment Block$/!q;}' \
        -e '1!{/^#/!{/=/!{:more' -e 'n' -e '/=/!bmore' -e 'd;};};}' \
        -e 's/^ORDER=A B$/ORDER="A B"/p' \
        -e 's/^ORDER=B A$/ORDER="B A"/p' \
        -e 's/^\([AB]_OK\)=\([01]\)$/\1=\2/p' \
        -e 's/^\([AB]_LEFT\)=\([0-9]\)$/\1=\2/p' \
        -e 's/^TRIES=\([1-9]\)$/TRIES=\1/p')
    eval "$_genv"
    [ -n "$TRIES" ] || TRIES=3
    [ -n "$ORDER" ] || ORDER="A B"
    [ -n "$A_OK" ] || A_OK=1
    [ -n "$B_OK" ] || B_OK=1
    [ -n "$A_LEFT" ] || A_LEFT=$TRIES
    [ -n "$B_LEFT" ] || B_LEFT=$TRIES
}

genv_activate() {
    case "$1" in
        A) ORDER="A B" A_OK=1 A_LEFT=$TRIES ;;
        B) ORDER="B A" B_OK=1 B_LEFT=$TRIES ;;
        *) echo "genv_activate: slot must be A or B, not '$1'" >&2; return 1 ;;
    esac
}

genv_confirm() {
    case "$1" in
        A) A_OK=1 A_LEFT=$TRIES ;;
        B) B_OK=1 B_LEFT=$TRIES ;;
        *) echo "genv_confirm: slot must be A or B, not '$1'" >&2; return 1 ;;
    esac
}

genv_write() {
    case "$ORDER/$A_OK$B_OK/$A_LEFT$B_LEFT/$TRIES" in
        "A B"/[01][01]/[0-9][0-9]/[1-9] | "B A"/[01][01]/[0-9][0-9]/[1-9]) ;;
        *) echo "genv_write: refusing malformed values: $ORDER/$A_OK$B_OK/$A_LEFT$B_LEFT/$TRIES" >&2
           return 1 ;;
    esac
    # 75 bytes of assignments, then '#' padding: dd takes exactly the first sector
    {
        printf '# GRUB Environment Block\nORDER=%s\nA_OK=%s\nB_OK=%s\nA_LEFT=%s\nB_LEFT=%s\nTRIES=%s\n' \
            "$ORDER" "$A_OK" "$B_OK" "$A_LEFT" "$B_LEFT" "$TRIES"
        printf '%512s' '' | sed 's/ /#/g'
    } | dd of="$1" bs=512 seek=$(($2 / 512)) count=1 iflag=fullblock conv=notrunc,fsync 2>/dev/null
}
