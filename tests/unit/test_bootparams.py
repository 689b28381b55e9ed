"""The dot-options format: parse, render, validate, merge (provisioner.bootparams)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.bootparams import (
    OptionError,
    Options,
    Word,
    check_length,
    is_dos_name,
    parse_word,
)

PAPER_AVBOX2 = (
    "initrd=initrd.img quiet ramdisk_size=81920 lang.de auto ip.192.168.2.252 "
    "submask.255.255.255.0 gw.192.168.2.251 dns.192.168.2.251 copyiso.tinycore.iso "
    "copydef.101.con copyimg.v101.img"
)


def test_paper_line_round_trips_unchanged() -> None:
    assert Options.parse(PAPER_AVBOX2).render() == PAPER_AVBOX2


def test_words_are_classified_as_option_flag_or_kernel_argument() -> None:
    opts = Options.parse("initrd=initrd.img quiet ip.192.168.2.251 copyiso.tinycore.iso")
    assert [(w.kind, w.key, w.value) for w in opts] == [
        ("kernel", "initrd", "initrd.img"),
        ("flag", "quiet", None),
        ("option", "ip", "192.168.2.251"),
        ("option", "copyiso", "tinycore.iso"),
    ]


def test_value_keeps_its_dots() -> None:
    assert Options.parse("ip.192.168.2.251").get("ip") == "192.168.2.251"
    assert Options.parse("copyiso.tinycore.iso").get("copyiso") == "tinycore.iso"


def test_kernel_arguments_with_dots_pass_through_untouched() -> None:
    line = "console=ttyS0,115200 loop.max_part=8 ramdisk_size=81920"
    opts = Options.parse(line)
    assert all(w.kind == "kernel" for w in opts)
    assert opts.render() == line


def test_runs_of_spaces_collapse_to_single_spaces() -> None:
    assert Options.parse("  auto   lang.de ").render() == "auto lang.de"


def test_unknown_keys_are_kept_in_order() -> None:
    line = "zeta.1 auto alpha.x-y mid.flag.with.dots"
    assert Options.parse(line).render() == line


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("ip.999.1.1.1", "options.ip", "not an IPv4 address"),
        ("ip.192.168.2", "options.ip", "not an IPv4 address"),
        ("gw.example.com", "options.gw", "not an IPv4 address"),
        ("dns.1.1.1.1,nope", "options.dns", "not an IPv4 address"),
        ("submask.255.0.255.0", "options.submask", "not a valid netmask"),
        ("keyboard.de/CH", "options.keyboard", "not a keyboard layout"),
        ("lang.deutsch!", "options.lang", "not a language code"),
        ("copyiso.../etc/passwd", "options.copyiso", "not a plain file name"),
        ("copyimg.a/b.img", "options.copyimg", "not a plain file name"),
        ("auto.yes", "options.auto", "takes no value"),
        ("ip", "options.ip", "needs a value"),
        ("ip.", "options.ip", "has no value"),
        ("auto auto", "options.auto", "appears twice"),
        ("lang.de lang.fr", "options.lang", "appears twice"),
    ],
)
def test_invalid_known_keys_are_errors_naming_the_field(text: str, field: str, says: str) -> None:
    with pytest.raises(OptionError) as err:
        Options.parse(text)
    assert err.value.field == field
    assert says in err.value.message


@pytest.mark.parametrize(
    "text",
    [
        "lang.de\nAPPEND evil",
        "lang.de\rx",
        "lang.de\tauto",
        "ip.1.2.3.4;reboot",
        "x.a#comment",
        "x.a&&shell",
        "x.a||shell",
        "x.${evil}",
        'x."quoted"',
        "x.'quoted'",
        "x.`cmd`",
        "x.a\\b",
        "x.\x00",
        "x.\x1b[2J",
        "x.caf\u00e9",
    ],
)
def test_nothing_can_inject_a_line_a_command_or_a_quote(text: str) -> None:
    with pytest.raises(OptionError) as err:
        Options.parse(text)
    assert err.value.field.startswith("options")


def test_repeated_kernel_arguments_are_allowed() -> None:
    opts = Options.parse("console=tty0 console=ttyS0,115200")
    assert opts.kernel_values("console") == ["tty0", "ttyS0,115200"]


def test_non_8_3_file_names_are_reported_but_accepted() -> None:
    opts = Options.parse("copyiso.tinycore.iso copydef.101.con copyimg.my-long-image.qcow2")
    assert opts.warnings() == [
        "copyimg.my-long-image.qcow2: 'my-long-image.qcow2' is not an 8.3 name; "
        "a FAT USB stick cannot hold it"
    ]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("tinycore.iso", True),
        ("101.con", True),
        ("v101.img", True),
        ("README", True),
        ("toolongname.iso", False),
        ("a.qcow", False),
        ("a.b.c", False),
        ("", False),
    ],
)
def test_dos_name(name: str, ok: bool) -> None:
    assert is_dos_name(name) is ok


def test_node_overrides_profile_key_by_key_in_place() -> None:
    profile = Options.parse("initrd=initrd.img quiet lang.de ip.10.0.0.1 auto")
    node = Options.parse("ip.192.168.2.252 keyboard.de_CH")
    assert profile.merged(node).render() == (
        "initrd=initrd.img quiet lang.de ip.192.168.2.252 auto keyboard.de_CH"
    )


def test_merge_replaces_all_repeats_of_a_kernel_argument() -> None:
    base = Options.parse("console=tty0 quiet console=ttyS0")
    assert base.merged(Options.parse("console=ttyS1,9600")).render() == ("console=ttyS1,9600 quiet")


def test_a_flag_and_an_option_with_the_same_key_replace_each_other() -> None:
    assert Options.parse("auto lang.de").merged(Options.parse("auto")).render() == "auto lang.de"


def test_length_limit_is_the_x86_command_line_size() -> None:
    check_length("a" * 2047)
    with pytest.raises(OptionError, match="2048 bytes; the target's limit is 2047"):
        check_length("a" * 2048)


def test_object_form_round_trips() -> None:
    opts = Options.parse("initrd=initrd.img quiet keyboard.de_CH auto console=tty0 console=ttyS0")
    mapping = opts.to_mapping()
    assert mapping == {
        "initrd=": "initrd.img",
        "quiet": True,
        "keyboard": "de_CH",
        "auto": True,
        "console=": ["tty0", "ttyS0"],
    }
    assert Options.from_mapping(mapping) == opts


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"ip": "300.1.1.1"}, "options.ip"),
        ({"auto": False}, "options.auto"),
        ({"lang": ""}, "options.lang"),
        ({"lang": 5}, "options.lang"),
        ({"lang": ["de", "fr"]}, "options.lang"),
        ({"bad key": "x"}, "options"),
        ({"a.b": "c"}, "options.a.b"),
        ({"console=": 3}, "options.console="),
    ],
)
def test_object_form_errors_name_the_field(mapping: dict[str, object], field: str) -> None:
    with pytest.raises(OptionError) as err:
        Options.from_mapping(mapping)
    assert err.value.field == field


def test_coerce_refuses_other_types() -> None:
    with pytest.raises(OptionError, match="dot-options string or a JSON object"):
        Options.coerce(["auto"])


# -- properties ----------------------------------------------------------------
_key = st.from_regex(r"[a-z_][a-z0-9_-]{0,10}", fullmatch=True).filter(
    lambda k: (
        k
        not in {
            "ip",
            "submask",
            "gw",
            "dns",
            "keyboard",
            "lang",
            "copyiso",
            "copydef",
            "copyimg",
            "auto",
        }
    )
)
_value = st.from_regex(r"[A-Za-z0-9_.:,/+%~-]{1,20}", fullmatch=True)
_word = st.one_of(
    st.builds(lambda k, v: Word("option", k, v), _key, _value.filter(lambda v: "=" not in v)),
    st.builds(lambda k: Word("flag", k), _key),
    st.builds(lambda k, v: Word("kernel", k, v), _key, _value),
    st.builds(lambda a: Word("option", "ip", a), st.ip_addresses(v=4).map(str)),
)


@st.composite
def _options(draw: st.DrawFn) -> Options:
    words = draw(st.lists(_word, max_size=12))
    seen: set[tuple[str, str]] = set()
    unique = []
    for w in words:
        if w.kind == "kernel" or w.ident not in seen:
            seen.add(w.ident)
            unique.append(w)
    return Options(tuple(unique))


@given(_options())
def test_parse_render_round_trips(opts: Options) -> None:
    text = opts.render()
    assert Options.parse(text) == opts
    assert Options.parse(text).render() == text


@given(_options())
def test_object_form_round_trips_for_any_line_without_interleaved_repeats(opts: Options) -> None:
    again = Options.from_mapping(opts.to_mapping())
    assert again.to_mapping() == opts.to_mapping()


@given(_options(), _options())
def test_merge_is_deterministic_and_the_override_wins(base: Options, over: Options) -> None:
    merged = base.merged(over)
    assert merged == base.merged(over)
    for w in over:
        if w.kind != "kernel":
            assert w in merged.words
    assert {w.ident for w in merged} == {w.ident for w in base} | {w.ident for w in over}
    assert base.merged(Options()) == base
    assert Options().merged(over) == over


@given(st.text(max_size=40))
def test_parse_either_succeeds_or_raises_option_error(text: str) -> None:
    try:
        opts = Options.parse(text)
    except OptionError:
        return
    rendered = opts.render()
    for bad in ("\n", "${", ";"):
        assert bad not in rendered
    assert Options.parse(rendered) == opts


def test_parse_word_rejects_empty() -> None:
    with pytest.raises(OptionError, match="empty word"):
        parse_word("")


_OCTETS = st.one_of(
    st.integers(0, 300).map(str),
    st.sampled_from(["00", "01", "007", "-1", "", " 1", "1 ", "\u0661", "+1", "0x1"]),
)


@given(st.lists(_OCTETS, min_size=3, max_size=5).map(".".join) | st.text(max_size=20))
def test_the_fast_ipv4_check_takes_exactly_what_ipaddress_takes(text: str) -> None:
    import ipaddress

    try:
        ipaddress.IPv4Address(text)
        valid = True
    except ValueError:
        valid = False
    words = Options.parse(f"ip.{text}") if valid else None
    assert words is None or words.get("ip") == text
    if not valid and text and " " not in text:
        with pytest.raises(OptionError):
            Options.parse(f"ip.{text}")
