"""The SMTP line layer against a real TCP peer on 127.0.0.1 that sends exact bytes.

A mail server that misbehaves on purpose is easiest to write as the other end
of a loopback connection: each test sends the bytes it needs and reads what
the channel wrote.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from configurator.mail.cancel import CancelToken
from configurator.mail.channel import (
    MAX_LINE,
    MAX_REPLY_LINES,
    BadReply,
    Channel,
    Reply,
    ServerClosed,
)
from configurator.mail.errors import MailError
from configurator.mail.transcript import Direction, Transcript


class Peer:
    """The server end of one loopback TCP connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.settimeout(5)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def received(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return data


def _pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, Peer]]:
    client, server = _pair()
    try:
        yield client, Peer(server)
    finally:
        client.close()
        server.close()


def channel_for(
    sock: socket.socket, *, timeout: float = 5.0, cancel: CancelToken | None = None
) -> tuple[Channel, Transcript]:
    transcript = Transcript()
    channel = Channel(sock, transcript=transcript, cancel=cancel or CancelToken(), timeout=timeout)
    return channel, transcript


def said(transcript: Transcript, direction: Direction) -> list[str]:
    return [line.text for line in transcript.lines() if line.direction is direction]


# -- reading replies ------------------------------------------------------------


def test_a_reply_keeps_its_text_exactly_but_for_the_line_end(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, transcript = channel_for(sock)
    peer.send(b"250-mail.example.org greets you \r\n250-SIZE 1000\r\n250 RELAX\r\n")
    reply = channel.read_reply()
    assert reply == Reply(250, ("mail.example.org greets you ", "SIZE 1000", "RELAX"))
    assert said(transcript, Direction.SERVER) == [
        "250-mail.example.org greets you ",
        "250-SIZE 1000",
        "250 RELAX",
    ]


def test_a_reply_ending_in_a_bare_line_feed_is_read_whole(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    peer.send(b"250 ok\n")
    assert channel.read_reply() == Reply(250, ("ok",))


def test_a_reply_of_only_the_code_has_one_empty_line(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    peer.send(b"250\r\n")
    assert channel.read_reply() == Reply(250, ("",))


def test_bytes_that_are_not_utf8_are_shown_as_replacement_characters(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    peer.send(b"250 caf\xe9 ok\r\n")
    assert channel.read_reply() == Reply(250, ("caf\ufffd ok",))


@pytest.mark.parametrize(
    "line",
    [b"xyz ok", b"abc", b"25", b"250xok", b"", b"2500 ok"],
    ids=["letters-then-space", "letters-only", "too-short", "no-separator", "empty", "four-digits"],
)
def test_a_line_that_is_not_an_smtp_reply_is_refused(
    connection: tuple[socket.socket, Peer], line: bytes
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    peer.send(line + b"\r\n")
    with pytest.raises(BadReply) as caught:
        channel.read_reply()
    shown = line.decode()
    assert str(caught.value) == f"the server sent {shown!r}, which is not an SMTP reply"


def test_an_empty_line_ending_in_a_line_feed_alone_is_refused_at_once(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock, timeout=2)
    peer.send(b"\n")
    started = time.monotonic()
    with pytest.raises(BadReply, match="which is not an SMTP reply"):
        channel.read_reply()
    assert time.monotonic() - started < 1


def test_the_refusal_quotes_at_most_80_characters_of_the_line(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    line = "HTTP/1.1 400 Bad Request " + "x" * 200
    peer.send(line.encode() + b"\r\n")
    with pytest.raises(BadReply) as caught:
        channel.read_reply()
    assert str(caught.value) == f"the server sent {line[:80]!r}, which is not an SMTP reply"


def test_a_reply_whose_code_changes_midway_is_refused(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    peer.send(b"250-first\r\n550 second\r\n")
    with pytest.raises(BadReply) as caught:
        channel.read_reply()
    assert str(caught.value) == "the server changed the reply code within one reply"


def test_a_reply_may_have_just_under_the_line_limit(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    continuation = b"250-x\r\n" * (MAX_REPLY_LINES - 1)
    peer.send(continuation + b"250 last\r\n")
    reply = channel.read_reply()
    assert len(reply.lines) == MAX_REPLY_LINES
    assert reply.lines[-1] == "last"


def test_a_reply_with_too_many_lines_is_refused(connection: tuple[socket.socket, Peer]) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    peer.send(b"250-x\r\n" * MAX_REPLY_LINES + b"250 last\r\n")
    with pytest.raises(BadReply) as caught:
        channel.read_reply()
    assert str(caught.value) == "the server's reply has too many lines"


def test_a_line_of_exactly_the_limit_is_read(connection: tuple[socket.socket, Peer]) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    text = b"250 " + b"x" * (MAX_LINE - 4)
    assert len(text) == MAX_LINE
    peer.send(text + b"\r\n")  # read 4096 bytes at a time: the limit is met before the end
    assert channel.read_reply() == Reply(250, ("x" * (MAX_LINE - 4),))


def test_a_line_longer_than_the_limit_is_refused(connection: tuple[socket.socket, Peer]) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    peer.send(b"250 " + b"x" * (3 * MAX_LINE))
    with pytest.raises(BadReply) as caught:
        channel.read_reply()
    assert str(caught.value) == "the server sent a line longer than 8192 bytes"


def test_a_server_that_hangs_up_midway_is_reported_as_closed(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    peer.send(b"250-first\r\n")
    peer.sock.close()
    with pytest.raises(ServerClosed) as caught:
        channel.read_reply()
    assert str(caught.value) == "the server closed the connection"


def test_a_silent_server_times_out_after_the_channels_timeout(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, _ = connection
    channel, _ = channel_for(sock, timeout=0.3)
    assert sock.gettimeout() == 0.3
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        channel.read_reply()
    assert time.monotonic() - started < 3


def test_set_timeout_changes_the_wait_for_the_next_reply(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, _ = connection
    channel, _ = channel_for(sock, timeout=30)
    channel.set_timeout(0.2)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        channel.read_reply()
    # The new time counts from set_timeout and bounds the read (not the 30 s).
    assert time.monotonic() - started < 3
    assert 0 < sock.gettimeout() <= 0.2


def test_a_reply_already_received_counts_as_readable(
    connection: tuple[socket.socket, Peer],
) -> None:
    """Two replies in one segment: the second waits in the buffer, not in the socket."""
    sock, peer = connection
    channel, _ = channel_for(sock)
    peer.send(b"220 first\r\n250 second\r\n")
    assert channel.read_reply() == Reply(220, ("first",))
    assert channel.has_unread_data
    assert channel.wait_readable(0)
    assert channel.read_reply() == Reply(250, ("second",))
    assert not channel.has_unread_data
    assert not channel.wait_readable(0.05)


# -- sending commands ------------------------------------------------------------


@pytest.mark.parametrize("line", ["RCPT TO:<a@b>\r\nDATA", "NOOP\n", "NOOP\rQUIT"])
def test_a_command_holding_a_line_break_is_never_sent(
    connection: tuple[socket.socket, Peer], line: str
) -> None:
    sock, peer = connection
    channel, transcript = channel_for(sock)
    with pytest.raises(ValueError, match="line break") as caught:
        channel.send_line(line)
    assert str(caught.value) == "an SMTP command cannot contain a line break"
    assert transcript.lines() == ()
    sock.close()
    assert peer.received(100) == b""


def test_a_command_is_sent_as_ascii_unless_utf8_is_asked_for(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    with pytest.raises(UnicodeEncodeError):
        channel.send_line("MAIL FROM:<müller@example.org>")
    with pytest.raises(UnicodeEncodeError):
        channel.command("RCPT TO:<müller@example.org>")
    peer.send(b"250 ok\r\n")
    assert channel.command("MAIL FROM:<müller@example.org> SMTPUTF8", utf8=True).code == 250
    expected = "MAIL FROM:<müller@example.org> SMTPUTF8\r\n".encode()
    assert peer.received(len(expected)) == expected


def test_the_transcript_shows_what_the_caller_chose_instead_of_the_line(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, transcript = channel_for(sock)
    peer.send(b"334 \r\n")
    channel.command("AUTH PLAIN AHVzZXIAc2VjcmV0", shown="AUTH PLAIN [hidden]")
    channel.send_line("NOOP")
    assert said(transcript, Direction.CLIENT) == ["AUTH PLAIN [hidden]", "NOOP"]
    expected = b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\nNOOP\r\n"
    assert peer.received(len(expected)) == expected


def test_a_message_gets_its_final_line_end_and_the_terminating_dot(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, transcript = channel_for(sock)
    peer.send(b"250 queued\r\n")
    content = b"Subject: x\r\n\r\n.hidden dot\r\nlast"
    assert channel.send_data(content) == Reply(250, ("queued",))
    expected = b"Subject: x\r\n\r\n..hidden dot\r\nlast\r\n.\r\n"
    assert peer.received(len(expected)) == expected
    assert said(transcript, Direction.CLIENT) == [f"[message: {len(content) + 2} bytes]", "."]


def test_a_message_already_ending_in_a_line_end_gets_no_second_one(
    connection: tuple[socket.socket, Peer],
) -> None:
    sock, peer = connection
    channel, _ = channel_for(sock)
    peer.send(b"250 queued\r\n")
    channel.send_data(b"body\r\n")
    expected = b"body\r\n.\r\n"
    assert peer.received(len(expected)) == expected
    assert not channel.wait_readable(0.05)


# -- cancelling ------------------------------------------------------------------


def test_cancel_wakes_a_read_on_the_socket_that_replaced_the_first(
    connection: tuple[socket.socket, Peer],
) -> None:
    """After STARTTLS the channel reads from a new socket: cancel must reach that one."""
    first, _ = connection
    second, second_peer = _pair()
    cancel = CancelToken()
    channel, _ = channel_for(first, timeout=10, cancel=cancel)
    channel.replace_socket(second)
    assert second.gettimeout() == 10
    timer = threading.Timer(0.3, cancel.cancel)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(MailError):
            channel.read_reply()
    finally:
        timer.cancel()
        second.close()
        second_peer.close()
    assert time.monotonic() - started < 5


def test_reply_text_joins_lines_and_str_shows_the_wire_form() -> None:
    reply = Reply(250, ("mail.example.org", "", "SIZE 1000 "))
    assert reply.text == "mail.example.org SIZE 1000 "
    assert str(reply) == "250-mail.example.org\n250-\n250 SIZE 1000"
    assert str(Reply(221, ("bye",))) == "221 bye"
