using System.Buffers.Binary;
using System.IO.Pipelines;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Session;

/// <summary>
/// One test per protocol violation (RELIABILITY.md (a) A2-A7, B7, F1; docs/protocol.md §5, §7): a hand-written peer
/// breaks a rule and the session must send GOAWAY with the right code and complete with it.
/// </summary>
public sealed class ProtocolViolationTests
{
    private const byte V = FrameWriter.Version1;

    private static byte[] UInt32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    /// <summary>Runs <paramref name="violate"/> against a fresh session and checks both the GOAWAY and the close info.</summary>
    private static async Task AssertSessionErrorAsync(ErrorCode expected, Func<RawPeer, Task> violate, SessionOptions? options = null, PipeOptions? sessionOutput = null)
    {
        await using var peer = await RawPeer.StartAsync(options, sessionOutput: sessionOutput);
        await violate(peer);
        var goAway = await peer.ReadGoAwayAsync();
        Assert.Equal(expected, goAway.GoAwayCode);
        var info = await peer.Session.Completion.Within();
        Assert.Equal(expected, info.Code);
        Assert.False(info.ByPeer);
        Assert.False(string.IsNullOrEmpty(info.Reason));
        Assert.Equal(info.Reason.Length > FrameLimits.MaxGoAwayReason ? FrameLimits.MaxGoAwayReason : System.Text.Encoding.UTF8.GetByteCount(info.Reason), goAway.Payload.Length - 8);
    }

    [Fact]
    public Task UnknownType_Received_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, p => p.SendFrameAsync((FrameType)0x8, 0, []));

    [Fact]
    public Task WrongVersionByte_Received_UnsupportedVersion() =>
        AssertSessionErrorAsync(ErrorCode.UnsupportedVersion, p => p.SendFrameAsync(FrameType.Ping, 0, new byte[8], version: 2));

    [Fact]
    public Task HELLO_ReceivedTwice_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, p => p.SendAsync(w => FrameWriter.WriteHello(w, new Hello(V, V, SessionSettings.ProtocolDefaults))));

    [Fact]
    public Task DATA_Received_OverMaxFramePayload_FrameSizeError() =>
        AssertSessionErrorAsync(ErrorCode.FrameSizeError, async p =>
        {
            await p.OpenAndAcceptAsync(1);
            // Only the header: the session must refuse it before the payload arrives (nothing buffered).
            await p.SendAsync(w =>
            {
                new FrameHeader(V, FrameType.Data, FrameFlags.None, 1, (uint)p.Session.Options.MaxFramePayload + 1).Write(w.GetSpan(FrameHeader.Size));
                w.Advance(FrameHeader.Size);
            });
        });

    [Fact]
    public Task OPEN_Received_OverMaxOpenMetadata_FrameSizeError() =>
        AssertSessionErrorAsync(ErrorCode.FrameSizeError, p => p.SendFrameAsync(FrameType.Open, 1, new byte[p.Session.Options.MaxOpenMetadata + 1]));

    [Fact]
    public Task PING_Received_WrongLength_FrameSizeError() =>
        AssertSessionErrorAsync(ErrorCode.FrameSizeError, p => p.SendFrameAsync(FrameType.Ping, 0, new byte[7]));

    [Fact]
    public Task WINDOW_UPDATE_Received_WrongLength_FrameSizeError() =>
        AssertSessionErrorAsync(ErrorCode.FrameSizeError, async p =>
        {
            await p.OpenAndAcceptAsync(1);
            await p.SendFrameAsync(FrameType.WindowUpdate, 1, new byte[5]);
        });

    [Fact]
    public Task RST_Received_WrongLength_FrameSizeError() =>
        AssertSessionErrorAsync(ErrorCode.FrameSizeError, async p =>
        {
            await p.OpenAndAcceptAsync(1);
            await p.SendFrameAsync(FrameType.Reset, 1, new byte[3]);
        });

    [Fact]
    public Task WINDOW_UPDATE_Received_ZeroIncrement_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, async p =>
        {
            await p.OpenAndAcceptAsync(1);
            await p.SendAsync(w => FrameWriter.WriteWindowUpdate(w, V, 1, 0));
        });

    [Fact]
    public Task WINDOW_UPDATE_Received_WindowAboveMaxValue_FlowControlError() =>
        AssertSessionErrorAsync(ErrorCode.FlowControlError, async p =>
        {
            await p.OpenAndAcceptAsync(1);
            // The send window starts at the peer's INITIAL_STREAM_WINDOW (256 KiB); this pushes it past 2^31-1.
            await p.SendAsync(w => FrameWriter.WriteWindowUpdate(w, V, 1, int.MaxValue));
        });

    [Fact]
    public Task WINDOW_UPDATE_Received_OnStreamZero_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, p => p.SendAsync(w => FrameWriter.WriteWindowUpdate(w, V, 0, 1024)));

    [Fact]
    public Task DATA_Received_BeyondWindow_FlowControlError() =>
        AssertSessionErrorAsync(ErrorCode.FlowControlError, async p =>
        {
            var window = p.Session.Options.InitialStreamWindow;
            await p.OpenAndAcceptAsync(1);
            // Nobody reads, so no credit comes back: one byte past the window is a violation, never buffered.
            var chunk = new byte[p.Session.Options.MaxFramePayload];
            for (var sent = 0; sent < window; sent += chunk.Length)
            {
                FrameWriter.WriteData(p.Output, V, 1, chunk.AsSpan(0, Math.Min(chunk.Length, window - sent)), fin: false);
            }
            FrameWriter.WriteData(p.Output, V, 1, [42], fin: false);
            await p.FlushAsync();
        }, new SessionOptions { InitialStreamWindow = SessionSettings.MinStreamWindow, MaxStreamWindow = SessionSettings.MinStreamWindow });

    [Theory]
    [InlineData(FrameType.Data)]
    [InlineData(FrameType.WindowUpdate)]
    [InlineData(FrameType.Reset)]
    [InlineData(FrameType.Accept)]
    public Task StreamFrame_Received_NeverOpenedStream_ProtocolError(FrameType type) =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, async p =>
        {
            // Stream 5 is the peer's parity and above anything it opened; stream 4 is the session's and it never opened it.
            var payload = type is FrameType.WindowUpdate or FrameType.Reset ? UInt32(1) : [];
            await p.SendFrameAsync(type, type == FrameType.Accept ? 4u : 5u, payload);
        });

    [Fact]
    public Task DATA_Received_OnStreamZero_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, p => p.SendFrameAsync(FrameType.Data, 0, [1, 2, 3]));

    [Fact]
    public Task PING_Received_OnNonZeroStream_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, p => p.SendFrameAsync(FrameType.Ping, 1, new byte[8]));

    [Fact]
    public Task GOAWAY_Received_OnNonZeroStream_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, p => p.SendFrameAsync(FrameType.GoAway, 3, new byte[8]));

    [Fact]
    public Task OPEN_Received_ReusedId_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, async p =>
        {
            await p.OpenAndAcceptAsync(3);
            await p.SendAsync(w => FrameWriter.WriteOpen(w, V, 3, [], fin: false));
        });

    [Fact]
    public Task OPEN_Received_DecreasingId_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, async p =>
        {
            await p.OpenAndAcceptAsync(7);
            await p.SendAsync(w => FrameWriter.WriteOpen(w, V, 5, [], fin: false));
        });

    [Fact]
    public Task OPEN_Received_WrongParity_ProtocolError() =>
        // The session under test is the server (edge): even ids are its own.
        AssertSessionErrorAsync(ErrorCode.ProtocolError, p => p.SendAsync(w => FrameWriter.WriteOpen(w, V, 2, [], fin: false)));

    [Fact]
    public Task DATA_Received_AfterFin_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, async p =>
        {
            await p.OpenAndAcceptAsync(1);
            await p.SendAsync(w =>
            {
                FrameWriter.WriteData(w, V, 1, [1, 2, 3], fin: true);
                FrameWriter.WriteData(w, V, 1, [4], fin: false);
            });
        });

    [Fact]
    public Task DATA_Received_AfterFinOnOpen_ProtocolError() =>
        AssertSessionErrorAsync(ErrorCode.ProtocolError, p => p.SendAsync(w =>
        {
            FrameWriter.WriteOpen(w, V, 1, [], fin: true);
            FrameWriter.WriteData(w, V, 1, [4], fin: false);
        }));

    [Fact]
    public Task PING_Flood_OverMaxQueuedControlReplies_EnhanceYourCalm() =>
        // The session's output pipe blocks after a few bytes and the peer does not read, so PING ACKs pile up.
        AssertSessionErrorAsync(ErrorCode.EnhanceYourCalm, async p =>
        {
            for (var i = 0; i <= p.Session.Options.MaxQueuedControlReplies + 2; i++)
            {
                FrameWriter.WritePing(p.Output, V, (ulong)i, ack: false);
            }
            await p.FlushAsync();
        }, new SessionOptions { MaxQueuedControlReplies = 16 },
        new PipeOptions(pauseWriterThreshold: 64, resumeWriterThreshold: 32, useSynchronizationContext: false));

    [Fact]
    public Task OPEN_ThenRST_Flood_WhileApplicationHoldsStreams_RefusedOverAbuseBudget_EnhanceYourCalm() =>
        AssertSessionErrorAsync(ErrorCode.EnhanceYourCalm, async p =>
        {
            // Rapid reset (CVE-2023-44487): a reset stream keeps counting against MAX_CONCURRENT_STREAMS until the
            // application lets go of it, so opening and resetting faster than the application finishes its work fills
            // the limit; the opens beyond it are refused, and refusals are abuse.
            for (uint id = 1; id <= 2 * 12; id += 2)
            {
                FrameWriter.WriteOpen(p.Output, V, id, [], fin: false);
                FrameWriter.WriteReset(p.Output, V, id, ErrorCode.Cancel);
            }
            await p.FlushAsync();
        }, new SessionOptions { AbuseBudget = 5, MaxConcurrentStreams = 4 });

    [Fact]
    public async Task OPEN_ThenRST_Burst_OverAbuseBudget_ApplicationReleases_SessionStaysUp()
    {
        // Issue 12: 1,000 clients leaving at once make the edge reset every stream still waiting for the agent's
        // ACCEPT. That is the protocol's way to give up on a stream, and must never end the session.
        var options = new SessionOptions { AbuseBudget = 5, MaxConcurrentStreams = 8, AcceptBacklog = 8 };
        await using var peer = await RawPeer.StartAsync(options);
        var released = 0;
        var application = Task.Run(async () =>
        {
            while (Volatile.Read(ref released) < 40)
            {
                var stream = await peer.Session.AcceptStreamAsync();
                await stream.DisposeAsync(); // the dispatcher sees the reset and lets go
                Interlocked.Increment(ref released);
            }
        });
        for (uint id = 1; id <= 2 * 40; id += 2)
        {
            await peer.SendAsync(w =>
            {
                FrameWriter.WriteOpen(w, V, id, [], fin: false);
                FrameWriter.WriteReset(w, V, id, ErrorCode.Cancel);
            });
            // Stay within the backlog, as the edge's pending-open limit does.
            await Wait.UntilAsync(() => Volatile.Read(ref released) >= (int)(id / 2) - 4, "the application keeps up");
        }
        await application.Within();
        Assert.False(peer.Session.Completion.IsCompleted);
        // The session still serves: a new stream is accepted and answered.
        var served = await peer.OpenAndAcceptAsync(2 * 40 + 1);
        Assert.NotNull(served);
        Assert.Equal(0, peer.Session.Counters.StreamsRefused);
    }

    [Fact]
    public Task OPEN_Flood_RefusedOverAbuseBudget_EnhanceYourCalm() =>
        AssertSessionErrorAsync(ErrorCode.EnhanceYourCalm, async p =>
        {
            // Nobody accepts: one stream fills the backlog, the rest are refused, and refusals count as abuse.
            for (uint id = 1; id <= 2 * 10; id += 2)
            {
                FrameWriter.WriteOpen(p.Output, V, id, [], fin: false);
            }
            await p.FlushAsync();
        }, new SessionOptions { AbuseBudget = 5, AcceptBacklog = 1 });

    [Fact]
    public Task OPEN_Flood_AfterRefuseIncomingStreams_EachRefused_EnhanceYourCalm() =>
        AssertSessionErrorAsync(ErrorCode.EnhanceYourCalm, async p =>
        {
            // The edge takes no stream from an agent after the control stream: without this, an application that
            // refused each open itself kept the session alive through any number of them.
            await p.OpenAndAcceptAsync(1);
            p.Session.RefuseIncomingStreams();
            for (uint id = 3; id <= 3 + (2 * 5); id += 2)
            {
                FrameWriter.WriteOpen(p.Output, V, id, [], fin: false);
            }
            await p.FlushAsync();
            for (uint id = 3; id <= 3 + (2 * 4); id += 2)
            {
                var refused = await p.ReadUntilAsync(f => f.Header.Type == FrameType.Reset && f.Header.StreamId == id, $"RST for stream {id}");
                Assert.Equal(ErrorCode.RefusedStream, refused.ResetCode);
            }
        }, new SessionOptions { AbuseBudget = 5 });

    [Fact]
    public Task EmptyDATA_Flood_OverAbuseBudget_EnhanceYourCalm() =>
        AssertSessionErrorAsync(ErrorCode.EnhanceYourCalm, async p =>
        {
            await p.OpenAndAcceptAsync(1);
            for (var i = 0; i < 10; i++)
            {
                FrameWriter.WriteData(p.Output, V, 1, [], fin: false);
            }
            await p.FlushAsync();
        }, new SessionOptions { AbuseBudget = 5 });

    [Fact]
    public Task WINDOW_UPDATE_Flood_BelowOneKiB_OverAbuseBudget_EnhanceYourCalm() =>
        AssertSessionErrorAsync(ErrorCode.EnhanceYourCalm, async p =>
        {
            // Increment 1, again and again: a correct peer returns credit in halves of a window of at least 16 KiB
            // (§6.1), so only a hostile one makes the session parse frames this way (issue 12).
            await p.OpenAndAcceptAsync(1);
            for (var i = 0; i < 10; i++)
            {
                FrameWriter.WriteWindowUpdate(p.Output, V, 1, 1);
            }
            await p.FlushAsync();
        }, new SessionOptions { AbuseBudget = 5 });

    [Fact]
    public async Task WINDOW_UPDATEs_ForStreamsThatJustClosed_AreNotAbuse()
    {
        // A peer's credit for a stream crosses our RST on the wire: ordinary, however many streams it happens to.
        await using var peer = await RawPeer.StartAsync(new SessionOptions { AbuseBudget = 5 });
        for (uint id = 1; id <= 2 * 10; id += 2)
        {
            var stream = await peer.OpenAndAcceptAsync(id);
            stream.Abort(ErrorCode.Cancel);
            await peer.ReadUntilAsync(f => f.Header.Type == FrameType.Reset && f.Header.StreamId == id, $"RST for stream {id}");
        }
        await Wait.UntilAsync(() => peer.Session.StreamCount == 0, "the reset streams left the table");
        await peer.SendAsync(w =>
        {
            for (uint id = 1; id <= 2 * 10; id += 2)
            {
                FrameWriter.WriteWindowUpdate(w, V, id, 64 * 1024);
            }
            FrameWriter.WritePing(w, V, 78, ack: false);
        });
        var pong = await peer.ReadUntilAsync(f => f.Header.Type == FrameType.Ping && f.Header.HasFlag(FrameFlags.Ack), "the PING ACK");
        Assert.Equal(78ul, BinaryPrimitives.ReadUInt64BigEndian(pong.Payload));
        Assert.False(peer.Session.Completion.IsCompleted);
    }

    [Fact]
    public async Task StreamFrames_Received_ForClosedStream_AreIgnored()
    {
        await using var peer = await RawPeer.StartAsync();
        var stream = await peer.OpenAndAcceptAsync(1);
        stream.Abort(ErrorCode.Cancel);
        await peer.ReadUntilAsync(f => f.Header.Type == FrameType.Reset && f.Header.StreamId == 1, "RST for stream 1");
        await Wait.UntilAsync(() => peer.Session.StreamCount == 0, "the reset stream left the table");
        // What the peer sent before it saw the RST is drained, not an error (docs/protocol.md §5.3).
        await peer.SendAsync(w =>
        {
            FrameWriter.WriteData(w, V, 1, new byte[100], fin: true);
            FrameWriter.WriteWindowUpdate(w, V, 1, 100);
            FrameWriter.WriteReset(w, V, 1, ErrorCode.Cancel);
            FrameWriter.WritePing(w, V, 77, ack: false);
        });
        var pong = await peer.ReadUntilAsync(f => f.Header.Type == FrameType.Ping && f.Header.HasFlag(FrameFlags.Ack), "the PING ACK");
        Assert.Equal(77ul, BinaryPrimitives.ReadUInt64BigEndian(pong.Payload));
        Assert.False(peer.Session.Completion.IsCompleted);
    }

    [Fact]
    public async Task HELLO_WithUnsupportedVersionRange_FailsStartWithUnsupportedVersion()
    {
        var toSession = new Pipe();
        var fromSession = new Pipe();
        FrameWriter.WriteHello(toSession.Writer, new Hello(2, 3, SessionSettings.ProtocolDefaults));
        await toSession.Writer.FlushAsync();
        var ex = await Assert.ThrowsAsync<MuxException>(() => MuxSession.StartAsync(new DuplexPipe(toSession.Reader, fromSession.Writer), SessionRole.Server).Within());
        Assert.Equal(ErrorCode.UnsupportedVersion, ex.Code);

        // The session told the peer why: its own HELLO, then GOAWAY UNSUPPORTED_VERSION.
        var result = await fromSession.Reader.ReadAsync();
        var frames = Framing.FrameParsing.ParseAll(result.Buffer, out _, RawFrame.PermissiveLimits);
        Assert.Equal([FrameType.Hello, FrameType.GoAway], frames.Select(f => f.Header.Type));
        Assert.Equal(ErrorCode.UnsupportedVersion, frames[1].GoAwayCode);
    }

    [Fact]
    public async Task FirstFrame_NotHello_FailsStartWithProtocolError()
    {
        var toSession = new Pipe();
        var fromSession = new Pipe();
        FrameWriter.WritePing(toSession.Writer, V, 1, ack: false);
        await toSession.Writer.FlushAsync();
        var ex = await Assert.ThrowsAsync<MuxException>(() => MuxSession.StartAsync(new DuplexPipe(toSession.Reader, fromSession.Writer), SessionRole.Server).Within());
        Assert.Equal(ErrorCode.ProtocolError, ex.Code);
    }
}
