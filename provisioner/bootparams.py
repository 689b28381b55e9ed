"""THE dot-options format: parse, validate, render, merge.

A box's setup is one kernel command line of words separated by single spaces
(see docs/dot-options.md)::

    keyboard.de_CH lang.de auto ip.192.168.2.251 copyiso.tinycore.iso

Three kinds of word:

* ``key.value`` -- a *dot-option*; the value may itself contain dots
  (``ip.192.168.2.251``). Dots, not ``=``, because a dot can be typed on every
  keyboard layout.
* ``name=value`` -- an ordinary kernel argument (``initrd=initrd.img``,
  ``console=ttyS0,115200``, ``loop.max_part=8``); anything with ``=`` is one and
  passes through untouched.
* ``word`` -- a bare flag (``auto``, ``quiet``).

Every other module (database column, API, CLI, importer, pxelinux and iPXE
renderers) goes through this one. It imports nothing but the standard library
and :mod:`provisioner.errors`; it does no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from provisioner.errors import CodecError

WordKind = Literal["option", "flag", "kernel"]

#: x86 COMMAND_LINE_SIZE, terminating NUL included.
X86_CMDLINE_LIMIT = 2048

#: Substrings that must never reach a boot file: they would start a comment, a
#: second command or a variable expansion in pxelinux or iPXE, or quote.
FORBIDDEN_SUBSTRINGS: tuple[tuple[str, str], ...] = (
    ("${", "'${' (iPXE variable expansion)"),
    ("&&", "'&&' (iPXE command chaining)"),
    ("||", "'||' (iPXE command chaining)"),
    (";", "';'"),
    ("#", "'#' (comment)"),
    ('"', "a double quote"),
    ("'", "a single quote"),
    ("`", "a backquote"),
    ("\\", "a backslash"),
)

_KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")
_KERNEL_KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_KEYBOARD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}\Z")
_LANG_RE = re.compile(r"[a-z]{2,3}([_-][A-Za-z]{2,8})?\Z")
_FILENAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}\Z")
_DOS_NAME_RE = re.compile(r"[A-Za-z0-9_~!$%&()@^{}-]{1,8}(\.[A-Za-z0-9_~!$%&()@^{}-]{1,3})?\Z")

IPV4_KEYS = frozenset({"ip", "submask", "gw", "dns"})
FILE_KEYS = frozenset({"copyiso", "copydef", "copyimg"})
FLAG_KEYS = frozenset({"auto"})
#: Keys this module knows how to validate; unknown keys are kept as they are.
KNOWN_KEYS = IPV4_KEYS | FILE_KEYS | FLAG_KEYS | {"keyboard", "lang"}


class OptionError(CodecError):
    """A word or value that is not valid dot-options; ``field`` names it."""


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a command line."""

    kind: WordKind
    key: str
    value: str | None = None

    def render(self) -> str:
        if self.kind == "flag":
            return self.key
        if self.kind == "option":
            return f"{self.key}.{self.value}"
        return f"{self.key}={self.value or ''}"

    @property
    def ident(self) -> tuple[str, str]:
        """What identifies this word when merging: flags and options share keys."""
        return ("kernel" if self.kind == "kernel" else "dot", self.key)


_PRINTABLE_RE = re.compile(r"[\x20-\x7e]*\Z")  # printable ASCII, spaces included
_VISIBLE_RE = re.compile(r"[\x21-\x7e]*\Z")  # printable ASCII, no white space


def check_text(text: str, field: str) -> None:
    """Refuse anything that could break out of one word on one boot-file line."""
    if not _PRINTABLE_RE.match(text):  # the common case skips the loop that names the problem
        _check_chars(text, field)
    for bad, what in FORBIDDEN_SUBSTRINGS:
        if bad in text:
            raise OptionError(field, f"contains {what}, which is not allowed in a boot file")


def _check_chars(text: str, field: str) -> None:
    for ch in text:
        if ch in "\r\n":
            raise OptionError(field, "must stay on one line (contains a line break)")
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise OptionError(field, f"contains a control character (0x{ord(ch):02x})")
        if ord(ch) > 0x7E:
            raise OptionError(field, f"contains a non-ASCII character {ch!r}")


def check_word(text: str, field: str) -> None:
    """:func:`check_text` plus: no white space at all."""
    if not _VISIBLE_RE.match(text) and any(ch.isspace() for ch in text):
        raise OptionError(field, f"{text!r} contains white space")
    check_text(text, field)


def parse_word(text: str, field: str = "options") -> Word:
    """Classify and validate one word (no spaces)."""
    if not text:
        raise OptionError(field, "empty word")
    check_word(text, field)
    if "=" in text:
        key, value = text.split("=", 1)
        if not _KERNEL_KEY_RE.match(key):
            raise OptionError(field, f"{text!r} is not a valid kernel argument")
        return Word("kernel", key, value)
    if "." in text:
        key, value = text.split(".", 1)
        if not key or not _KEY_RE.match(key):
            raise OptionError(field, f"{text!r}: {key!r} is not a valid key")
        if not value:
            raise OptionError(f"{field}.{key}", "has no value (write key.value)")
        word = Word("option", key, value)
    else:
        if not _KEY_RE.match(text):
            raise OptionError(field, f"{text!r} is not a valid flag")
        word = Word("flag", text)
    _validate_known(word, field)
    return word


def _validate_known(word: Word, field: str) -> None:
    key, value = word.key, word.value
    where = f"{field}.{key}"
    if key in FLAG_KEYS:
        if word.kind != "flag":
            raise OptionError(where, f"{key} is a bare flag and takes no value")
        return
    if key in KNOWN_KEYS and word.kind == "flag":
        raise OptionError(where, f"{key} needs a value (write {key}.VALUE)")
    if value is None:
        return
    if key == "dns":
        for part in value.split(","):
            _ipv4(part, where)
    elif key == "submask":
        _ipv4(value, where)
        try:
            ipaddress.IPv4Network(f"0.0.0.0/{value}")
        except ValueError:
            raise OptionError(where, f"{value!r} is not a valid netmask") from None
    elif key in IPV4_KEYS:
        _ipv4(value, where)
    elif key == "keyboard" and not _KEYBOARD_RE.match(value):
        raise OptionError(where, f"{value!r} is not a keyboard layout name (e.g. de_CH)")
    elif key == "lang" and not _LANG_RE.match(value):
        raise OptionError(where, f"{value!r} is not a language code (e.g. de, de_CH)")
    elif key in FILE_KEYS and (not _FILENAME_RE.match(value) or value in {".", ".."}):
        raise OptionError(where, f"{value!r} is not a plain file name")


#: a dotted quad as ``ipaddress.IPv4Address`` takes it (ASCII digits, no leading
#: zeros): a regex match is ~10x cheaper, and an import checks one per label
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}\Z")


def _ipv4(value: str, field: str) -> None:
    if _IPV4_RE.match(value):
        return
    try:  # the rare miss: ipaddress has the last word
        ipaddress.IPv4Address(value)
    except ValueError:
        raise OptionError(field, f"{value!r} is not an IPv4 address") from None


def is_dos_name(name: str) -> bool:
    """True when ``name`` is a FAT 8.3 short name (NAME.EXT, 8 and 3 characters)."""
    return bool(_DOS_NAME_RE.match(name))


@dataclass(frozen=True, slots=True)
class Options:
    """An ordered, validated command line. Immutable; build with :meth:`parse`."""

    words: tuple[Word, ...] = ()

    # -- construction ----------------------------------------------------------
    @classmethod
    def parse(cls, text: str, field: str = "options") -> Options:
        """Parse a command line. Runs of spaces separate words; tabs and line
        breaks are errors, as is any word that could not be rendered back."""
        check_text(text, field)
        words = [parse_word(w, field) for w in text.split(" ") if w]
        return cls.of(words, field)

    @classmethod
    def of(cls, words: Iterable[Word], field: str = "options") -> Options:
        seen: set[tuple[str, str]] = set()
        out: list[Word] = []
        for w in words:
            if w.kind != "kernel":
                if w.ident in seen:
                    raise OptionError(f"{field}.{w.key}", "appears twice")
                seen.add(w.ident)
            out.append(w)
        return cls(tuple(out))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object], field: str = "options") -> Options:
        """Build from the JSON object form (see :meth:`to_mapping`)."""
        words: list[Word] = []
        for key, value in mapping.items():
            if not isinstance(key, str):
                raise OptionError(field, "keys must be strings")
            where = f"{field}.{key}"
            values = value if isinstance(value, list) else [value]
            if key.endswith("="):
                for v in values:
                    if not isinstance(v, str):
                        raise OptionError(where, "a kernel argument's value must be a string")
                    check_word(v, where)
                    words.append(parse_word(f"{key}{v}", field))
                continue
            if isinstance(value, list):
                raise OptionError(where, "only kernel arguments (keys ending in '=') may repeat")
            if value is True:
                words.append(parse_word(key, field))
            elif isinstance(value, str) and value:
                if "." in key or "=" in key:
                    raise OptionError(where, f"{key!r} is not a valid key")
                check_word(value, where)
                words.append(parse_word(f"{key}.{value}", field))
            else:
                raise OptionError(where, "must be a non-empty string, or true for a flag")
        return cls.of(words, field)

    @classmethod
    def coerce(cls, value: object, field: str = "options") -> Options:
        """Accept the string form, the object form, or ``None`` (empty)."""
        if value is None:
            return cls()
        if isinstance(value, str):
            return cls.parse(value, field)
        if isinstance(value, Mapping):
            return cls.from_mapping(value, field)
        raise OptionError(field, "must be a dot-options string or a JSON object")

    # -- output ----------------------------------------------------------------
    def render(self) -> str:
        return " ".join(w.render() for w in self.words)

    def __str__(self) -> str:
        return self.render()

    def to_mapping(self) -> dict[str, str | bool | list[str]]:
        """The object form: ``key: value`` for dot-options, ``flag: true``, and
        ``"name=": value`` for kernel arguments (a list when one repeats)."""
        out: dict[str, str | bool | list[str]] = {}
        for w in self.words:
            if w.kind == "flag":
                out[w.key] = True
            elif w.kind == "option":
                out[w.key] = w.value or ""
            else:
                k, v = f"{w.key}=", w.value or ""
                prev = out.get(k)
                if prev is None:
                    out[k] = v
                elif isinstance(prev, list):
                    prev.append(v)
                else:
                    out[k] = [str(prev), v]
        return out

    # -- queries ---------------------------------------------------------------
    def __iter__(self) -> Iterator[Word]:
        return iter(self.words)

    def __len__(self) -> int:
        return len(self.words)

    def __bool__(self) -> bool:
        return bool(self.words)

    def get(self, key: str) -> str | None:
        """Value of a dot-option (``None`` when absent or a bare flag)."""
        for w in self.words:
            if w.kind == "option" and w.key == key:
                return w.value
        return None

    def has_flag(self, key: str) -> bool:
        return any(w.kind == "flag" and w.key == key for w in self.words)

    def kernel_values(self, key: str) -> list[str]:
        return [w.value for w in self.words if w.kind == "kernel" and w.key == key and w.value]

    def warnings(self) -> list[str]:
        """Things that are valid but worth telling the user."""
        return [
            f"{w.key}.{w.value}: {w.value!r} is not an 8.3 name; a FAT USB stick cannot hold it"
            for w in self.words
            if w.kind == "option" and w.key in FILE_KEYS and w.value and not is_dos_name(w.value)
        ]

    # -- combination -----------------------------------------------------------
    def merged(self, over: Options) -> Options:
        """``self`` with ``over`` applied key by key.

        A dot-option or flag in ``over`` replaces the one with the same key in
        place; a kernel argument in ``over`` replaces all of ``self``'s arguments
        of that name (``console=`` may repeat). What ``self`` lacks is appended
        in ``over``'s order. Deterministic, and ``a.merged(Options())  == a``.
        """
        replace = {w.ident for w in over.words}
        placed: set[tuple[str, str]] = set()
        out: list[Word] = []
        for w in self.words:
            if w.ident not in replace:
                out.append(w)
            elif w.ident not in placed:
                out.extend(o for o in over.words if o.ident == w.ident)
                placed.add(w.ident)
        out.extend(o for o in over.words if o.ident not in placed)
        return Options(tuple(out))

    def without(self, *keys: str) -> Options:
        return Options(tuple(w for w in self.words if w.key not in keys))

    def with_words(self, *words: Word) -> Options:
        return self.merged(Options.of(words))


def check_length(cmdline: str, field: str = "options", limit: int = X86_CMDLINE_LIMIT) -> None:
    """The rendered command line (plus its terminating NUL) must fit ``limit``."""
    size = len(cmdline.encode()) + 1
    if size > limit:
        raise OptionError(
            field, f"command line is {size - 1} bytes; the target's limit is {limit - 1}"
        )
