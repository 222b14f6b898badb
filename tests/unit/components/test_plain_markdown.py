"""plain(): text from users and data shown through markdown stays text. Checked against the markdown rules
themselves (CommonMark's backslash escapes, GFM's autolink literals), written out here independently of plain()."""

import re
import string

import pytest

from components.formatting import code, plain

PAYLOADS = ["[x](javascript:alert(1))", "![x](http://127.0.0.1:9/x)", "<img src=x onerror=alert(1)>",
            "![pix](http://127.0.0.1:9/pixel.png)", "see http://127.0.0.1:9/a and HTTPS://evil.example/b",
            "www.example.com", "a WWW.example.com link", "<http://127.0.0.1:9/>", "$x^2$ & R&D &lt;b&gt;",
            "**bold** _it_ `code` ~~gone~~ # heading | a | b |", "back\\[slash](http://x)"]

# What CommonMark and GFM act on: link/image brackets, raw HTML and <autolinks>, entities, emphasis, code, maths
# (KaTeX in Streamlit), strikethrough, headings, tables, and a backslash that would escape what follows it.
ACTIVE = set("[]<>&*_`$~#|\\")
# GFM's extended autolinks (spec section 6.9): a bare www. or http(s):// becomes a link, whatever escapes surround
# it, because the literal is found in the text after the escapes are undone.
AUTOLINK_LITERAL = re.compile(r"(?i)(?:https?://|www\.)")


def unescape(markdown: str) -> str:
    """The text CommonMark shows: a backslash before ASCII punctuation is dropped, the punctuation kept."""
    return re.sub(r"\\([%s])" % re.escape(string.punctuation), r"\1", markdown)


def active_characters(markdown: str) -> list[str]:
    """The characters markdown would act on: those of ACTIVE that no backslash escapes."""
    found, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown) and markdown[i + 1] in string.punctuation:
            i += 2
            continue
        if markdown[i] in ACTIVE:
            found.append(markdown[i])
        i += 1
    return found


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_character_markdown_acts_on_is_left_unescaped(payload):
    assert active_characters(plain(payload)) == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_bare_address_is_left_for_the_autolinker(payload):
    shown = unescape(plain(payload))
    assert AUTOLINK_LITERAL.search(shown) is None, shown


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_text_reads_as_it_was_written(payload):
    """Only invisible characters are added: with the escapes undone and the word joiners (U+2060, no width, no
    line break) taken out, a reader sees exactly the payload."""
    shown = unescape(plain(payload))
    assert set(shown) - set(payload) <= {"\u2060"}
    assert shown.replace("\u2060", "") == payload


def test_ordinary_text_is_unchanged():
    assert plain("adult-income v2: approved with 1 condition (credit, 2026-09-14).") == \
        "adult-income v2: approved with 1 condition (credit, 2026-09-14)."
    assert plain(42) == "42"


def code_span(markdown: str) -> str | None:
    """CommonMark's code span (spec 6.1): an opening run of n backticks, the content, a closing run of exactly n,
    with one space stripped from each end when both are spaces; None when the text is not one whole code span."""
    match = re.fullmatch(r"(`+)(.*?)(?<!`)\1(?!`)", markdown, flags=re.S)
    if match is None or re.search(r"(?<!`)%s(?!`)" % match.group(1), match.group(2)):
        return None
    content = match.group(2)
    if len(content) > 1 and content.startswith(" ") and content.endswith(" ") and content.strip():
        content = content[1:-1]
    return content


@pytest.mark.parametrize("name", ["y_true", "a`b", "`x", "x``", "``![x](http://127.0.0.1:9/x)``",
                                  "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))"])
def test_a_column_name_as_code_is_one_code_span_of_exactly_that_name(name):
    """Inside a code span nothing is a link, an image or HTML; a backtick in the name must not close it early."""
    assert code_span(code(name)) == name
