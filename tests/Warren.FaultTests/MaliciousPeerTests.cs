using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Tunnel;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>
/// RELIABILITY (a) F and docs/protocol.md §7: an agent with a valid token that floods the edge with frames is closed
/// with the protocol's error code within its abuse budget, while another agent's transfer through the same edge
/// completes byte-exact and its session stays.
/// </summary>
public sealed class MaliciousPeerTests(ITestOutputHelper output) : LoggedTest(output)
{
    public enum Flood
    {
        /// <summary>OPENs of agent-side ids: the edge takes no stream from an agent, so each is a refused open.</summary>
        Opens,
        /// <summary>OPEN then RST at once (CVE-2023-44487).</summary>
        OpenAndReset,
        /// <summary>RSTs for ids that were never opened.</summary>
        ResetsOfUnknownStreams,
        /// <summary>PINGs while never reading the replies (CVE-2019-9512).</summary>
        Pings,
        /// <summary>Large WINDOW_UPDATEs on the control stream until the window overflows.</summary>
        WindowUpdates,
    }

    [Theory]
    [InlineData(Flood.Opens, ErrorCode.EnhanceYourCalm)]
    [InlineData(Flood.OpenAndReset, ErrorCode.EnhanceYourCalm)]
    [InlineData(Flood.ResetsOfUnknownStreams, ErrorCode.ProtocolError)]
    [InlineData(Flood.Pings, ErrorCode.EnhanceYourCalm)]
    [InlineData(Flood.WindowUpdates, ErrorCode.FlowControlError)]
    public async Task Flooding_agent_is_closed_with_a_protocol_error_while_another_agents_transfer_completes(Flood flood, ErrorCode expected)
    {
        const long size = 64L * 1024 * 1024;
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var response = await tunnel.Client.SendAsync(tunnel.Request(HttpMethod.Get, $"/bytes/{size}"), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var transfer = VerifyAsync(response, timeout.Token);

        await using var hostile = await HostileAgent.ConnectAsync(tunnel.Edge.AgentsPort, tunnel.Edge.AgentCertificateFingerprint!, tunnel.Token, timeout.Token);
        await Wait.UntilAsync(async () => (await tunnel.StatusAsync()).Sessions.Length == 2, "the edge lists the hostile agent's session");
        // The edge's log says when it cut the flood off. A flooder that never reads gets no GOAWAY (it sits behind
        // the replies the flooder left unread, and the edge resets the link a second after its last write), so the
        // hostile agent stops when the edge says so, then reads: a buggy agent that does read learns why it was cut off.
        var cutOff = Log.WaitForAsync(Wait.DefaultTimeout, "[ProtocolViolation]");
        var outcome = await hostile.FloodAsync(flood, cutOff, timeout.Token);
        Log.Note($"{flood}: {outcome.FramesSent} frames sent; GOAWAY {outcome.GoAwayCode} (last stream {outcome.GoAwayLastStreamId}): {outcome.GoAwayReason}");

        Assert.Contains($"({expected})", await cutOff);
        Assert.Equal(expected, outcome.GoAwayCode);
        var budget = new SessionOptions().AbuseBudget;
        switch (flood)
        {
            case Flood.Opens or Flood.OpenAndReset:
                // Flood ids are 3, 5, 7...: the GOAWAY's last stream id says how many opens the edge processed.
                Assert.InRange((outcome.GoAwayLastStreamId - 1) / 2, 1u, (uint)budget + 1);
                Assert.InRange(outcome.Refusals, 1, budget + 1);
                break;
            case Flood.ResetsOfUnknownStreams:
                Assert.Equal(0, outcome.Refusals);
                break;
        }
        await Wait.UntilAsync(async () => (await tunnel.StatusAsync()).Sessions.Length == 1, "the edge dropped the hostile session");

        Assert.Equal(size, await transfer);
        var session = Assert.Single((await tunnel.StatusAsync()).Sessions);
        Assert.Equal("test-agent", session.Agent);
        using var after = await tunnel.GetAsync("/echo", cancellationToken: timeout.Token);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    private static async Task<long> VerifyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var verifier = new Mod251Verifier();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await body.ReadAsync(buffer, cancellationToken)) > 0)
        {
            verifier.Check(buffer.AsSpan(0, n));
        }
        return verifier.Verified;
    }

    private sealed record Outcome(long FramesSent, ErrorCode GoAwayCode, uint GoAwayLastStreamId, string GoAwayReason, int Refusals);

    /// <summary>
    /// An agent driven frame by frame over the real TLS link: HELLO, the control stream and a valid login, then
    /// whatever flood the test asks for. It never answers the edge's PINGs or honours anything; it only watches for
    /// the GOAWAY.
    /// </summary>
    private sealed class HostileAgent : IAsyncDisposable
    {
        private const byte V = FrameWriter.Version1;
        private const int Batch = 64;
        private const long MaxFrames = 2_000_000;
        private static readonly FrameLimits Limits = new(V, SessionSettings.MaxFramePayloadLimit, SessionSettings.MaxOpenMetadataLimit);

        private readonly SslStream _tls;
        private readonly PipeReader _input;

        private HostileAgent(SslStream tls)
        {
            _tls = tls;
            _input = PipeReader.Create(tls, new StreamPipeReaderOptions(leaveOpen: true));
        }

        public static async Task<HostileAgent> ConnectAsync(int port, string fingerprint, string token, CancellationToken cancellationToken)
        {
            var agent = new HostileAgent(await AgentLink.DialTlsAsync(port, fingerprint, cancellationToken));
            var auth = new MemoryStream();
            await new ControlChannel(auth).SendAsync(new ControlMessage { Type = ControlMessage.Auth, Token = token, Agent = "hostile" }, cancellationToken);
            await agent.SendAsync(w =>
            {
                FrameWriter.WriteHello(w, new Hello(V, V, SessionSettings.ProtocolDefaults));
                FrameWriter.WriteOpen(w, V, 1, new StreamOpenRequest(StreamKind.Control, "", "").Encode(), fin: false);
                FrameWriter.WriteData(w, V, 1, auth.ToArray(), fin: false);
            }, cancellationToken);
            var control = new MemoryStream();
            while (true)
            {
                var (header, payload) = await agent.ReadFrameAsync(cancellationToken) ?? throw new IOException("the edge closed the link before auth_result");
                if (header is { Type: FrameType.Data, StreamId: 1 })
                {
                    control.Write(payload);
                    if (control.Length >= 4 && control.Length >= 4 + BinaryPrimitives.ReadUInt32BigEndian(control.GetBuffer()))
                    {
                        control.Position = 0;
                        var answer = await new ControlChannel(control).ReceiveAsync(cancellationToken);
                        Assert.Equal((ControlMessage.AuthResult, true), (answer?.Type, answer?.Ok));
                        return agent;
                    }
                }
            }
        }

        /// <summary>
        /// Floods until <paramref name="cutOff"/> completes (the edge says it cut this agent off), the edge sends GOAWAY
        /// or hangs up; returns what the edge answered.
        /// </summary>
        public async Task<Outcome> FloodAsync(Flood flood, Task cutOff, CancellationToken cancellationToken)
        {
            var refusals = 0;
            (ErrorCode, uint, string)? goAway = null;
            async Task ReadAllAsync()
            {
                while (await ReadFrameAsync(cancellationToken) is var (header, payload))
                {
                    if (header.Type == FrameType.Reset && (ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload) == ErrorCode.RefusedStream)
                    {
                        Interlocked.Increment(ref refusals);
                    }
                    if (header.Type == FrameType.GoAway)
                    {
                        goAway = ((ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4)), BinaryPrimitives.ReadUInt32BigEndian(payload), System.Text.Encoding.UTF8.GetString(payload.AsSpan(8)));
                    }
                }
            }

            // The PING flood must not read the replies (that is the attack); the others read all along.
            var reader = flood == Flood.Pings ? null : Task.Run(ReadAllAsync, cancellationToken);
            long sent = 0;
            uint nextId = 3;
            try
            {
                while (sent < MaxFrames && reader?.IsCompleted != true && !cutOff.IsCompleted)
                {
                    using var stalled = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    stalled.CancelAfter(TimeSpan.FromSeconds(3)); // the edge stopped reading: it has closed the session
                    await SendAsync(w =>
                    {
                        for (var i = 0; i < Batch; i++, sent++)
                        {
                            switch (flood)
                            {
                                case Flood.Opens:
                                    FrameWriter.WriteOpen(w, V, nextId, new StreamOpenRequest(StreamKind.Http, "x", "").Encode(), fin: false);
                                    nextId += 2;
                                    break;
                                case Flood.OpenAndReset:
                                    FrameWriter.WriteOpen(w, V, nextId, new StreamOpenRequest(StreamKind.Http, "x", "").Encode(), fin: false);
                                    FrameWriter.WriteReset(w, V, nextId, ErrorCode.Cancel);
                                    nextId += 2;
                                    break;
                                case Flood.ResetsOfUnknownStreams:
                                    FrameWriter.WriteReset(w, V, 1_000_000 + (uint)(2 * sent), ErrorCode.Cancel);
                                    break;
                                case Flood.Pings:
                                    FrameWriter.WritePing(w, V, (ulong)sent, ack: false);
                                    break;
                                case Flood.WindowUpdates:
                                    FrameWriter.WriteWindowUpdate(w, V, 1, 16 * 1024 * 1024);
                                    break;
                            }
                        }
                    }, stalled.Token);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // The edge closed the link or stopped reading: the flood is over.
            }
            await (reader ?? ReadAllAsync()).WaitAsync(Wait.DefaultTimeout, cancellationToken);
            var (code, last, reason) = goAway ?? throw new Xunit.Sdk.XunitException($"the edge never sent GOAWAY ({sent} frames sent)");
            return new Outcome(sent, code, last, reason, refusals);
        }

        private async Task SendAsync(Action<IBufferWriter<byte>> write, CancellationToken cancellationToken)
        {
            var buffer = new ArrayBufferWriter<byte>();
            write(buffer);
            await _tls.WriteAsync(buffer.WrittenMemory, cancellationToken);
        }

        /// <summary>The next frame from the edge; null once it closed the link (or reset it).</summary>
        private async Task<(FrameHeader Header, byte[] Payload)?> ReadFrameAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await _input.ReadAsync(cancellationToken);
                }
                catch (IOException)
                {
                    return null;
                }
                var buffer = result.Buffer;
                if (FrameReader.TryReadFrame(ref buffer, Limits, out var header, out var payload))
                {
                    var frame = (header, payload.ToArray());
                    _input.AdvanceTo(buffer.Start);
                    return frame;
                }
                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return null;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _input.CompleteAsync();
            await _tls.DisposeAsync();
        }
    }
}
