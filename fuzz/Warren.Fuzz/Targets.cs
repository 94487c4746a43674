using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Edge.Policy;
using Warren.Edge.Routing;
using Warren.Edge.Tokens;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tests.Support;
using Warren.Protocol.Transport;
using Warren.Protocol.Tunnel;

namespace Warren.Fuzz;

/// <summary>
/// The fuzz targets: each takes arbitrary bytes and drives the real parsing code with them. The protocol's own
/// errors (<see cref="ProtocolException"/>, and <see cref="MuxException"/> where a session reports one) are the
/// expected answer to bad input; any other exception, a broken invariant or a hang is a crash.
/// Shared as source with tests/Warren.FuzzTests, which replays the kept corpus and crashes through the same code.
/// </summary>
internal static class Targets
{
    /// <summary>How long the session target waits for a session to end before calling it a hang.</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(10);

    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new Dictionary<string, Action<byte[]>>
    {
        ["frames"] = Frames,
        ["control"] = Control,
        ["session"] = Session,
        ["registration"] = Registration,
    };

    // A property, not a field: nothing from the instrumented assembly may run before SharpFuzz maps AFL's memory.
    private static FrameLimits Limits => new(FrameWriter.Version1, 16 * 1024, 1024);

    /// <summary>
    /// The frame decoder, HELLO and OPEN metadata: frames are read off the input as one contiguous buffer and again
    /// split into small segments (the multi-segment path a socket produces); both reads must agree exactly.
    /// </summary>
    public static void Frames(byte[] input)
    {
        var whole = ReadFrames(new ReadOnlySequence<byte>(input));
        var split = ReadFrames(SegmentedSequence.Split(input, Cuts(input.Length)));
        if (whole != split)
        {
            throw new FuzzInvariantException($"contiguous and segmented reads differ: '{whole}' vs '{split}'");
        }
    }

    /// <summary>Cuts at odd, varying distances, so headers and payloads straddle segment boundaries at every offset.</summary>
    private static IEnumerable<int> Cuts(int length)
    {
        int[] sizes = [1, 3, 7, 12, 5, 2, 11];
        for (int i = 0, at = sizes[0]; at < length; at += sizes[++i % sizes.Length])
        {
            yield return at;
        }
    }

    /// <summary>Reads every whole frame, parses the payloads that have a structure, and describes what it saw.</summary>
    private static string ReadFrames(ReadOnlySequence<byte> buffer)
    {
        var seen = new System.Text.StringBuilder();
        try
        {
            while (FrameReader.TryReadFrame(ref buffer, Limits, out var header, out var payload))
            {
                if (payload.Length != header.Length)
                {
                    throw new FuzzInvariantException($"{header}: payload of {payload.Length} bytes");
                }
                seen.Append(header).Append(';');
                switch (header.Type)
                {
                    case FrameType.Hello:
                        var hello = Hello.Parse(payload.ToArray());
                        var written = new byte[Hello.PayloadLength];
                        hello.Write(written);
                        if (Hello.Parse(written) != hello)
                        {
                            throw new FuzzInvariantException($"HELLO {hello} does not survive a round trip");
                        }
                        break;
                    case FrameType.Open:
                        var open = StreamOpenRequest.Decode(payload.ToArray());
                        if (StreamOpenRequest.Decode(open.Encode()) != open)
                        {
                            throw new FuzzInvariantException($"OPEN metadata {open} does not survive a round trip");
                        }
                        break;
                }
            }
            // Whatever is left must be an incomplete frame, never a complete one the reader skipped.
            if (buffer.Length >= FrameHeader.Size)
            {
                var header = FrameHeader.Read(buffer.Slice(0, FrameHeader.Size).ToArray());
                if (buffer.Length >= FrameHeader.Size + (long)header.Length)
                {
                    throw new FuzzInvariantException($"a complete frame ({header}) was left unread");
                }
            }
            return seen.Append("end ").Append(buffer.Length).ToString();
        }
        catch (ProtocolException ex)
        {
            return seen.Append("error ").Append(ex.Code).Append(' ').Append(ex.Message).ToString();
        }
    }

    /// <summary>
    /// The control stream (auth, register and their results): length-prefixed JSON messages until the input ends.
    /// Every message the channel returns is used the way the edge and the agent use it, and must survive a round trip.
    /// </summary>
    public static void Control(byte[] input)
    {
        var channel = new ControlChannel(new MemoryStream(input, writable: false));
        try
        {
            while (channel.ReceiveAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult() is { } message)
            {
                Use(message);
                var copy = new MemoryStream();
                new ControlChannel(copy).SendAsync(message, CancellationToken.None).AsTask().GetAwaiter().GetResult();
                copy.Position = 0;
                var again = new ControlChannel(copy).ReceiveAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult()
                    ?? throw new FuzzInvariantException("a re-sent message reads back as the end of the stream");
                if (!Serialized(again).AsSpan().SequenceEqual(Serialized(message)))
                {
                    throw new FuzzInvariantException("a control message does not survive a round trip");
                }
            }
        }
        catch (ProtocolException)
        {
        }
    }

    private static byte[] Serialized(ControlMessage message)
    {
        var stream = new MemoryStream();
        new ControlChannel(stream).SendAsync(message, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return stream.ToArray();
    }

    /// <summary>Touches every field the edge and the agent read without a null check (what the types promise).</summary>
    private static void Use(ControlMessage message)
    {
        _ = message.Type.Length;
        foreach (var service in message.Services ?? [])
        {
            _ = service.Name.Length + service.Kind.Length + service.Hostnames.Count;
            foreach (var hostname in service.Hostnames)
            {
                _ = hostname.Length;
            }
        }
        foreach (var result in message.Results ?? [])
        {
            _ = result.Name.Length;
        }
    }

    /// <summary>
    /// A whole server-side session fed the input as the peer's bytes over an in-memory pipe, with an application
    /// that accepts, reads and answers every stream and opens one of its own (id 2, so the input can address it).
    /// The session must start or fail with <see cref="MuxException"/>, and then end on its own; nothing may throw
    /// anything but the multiplexer's errors, and nothing may hang.
    /// </summary>
    public static void Session(byte[] input) => SessionAsync(input).GetAwaiter().GetResult();

    private static async Task SessionAsync(byte[] input)
    {
        var (peer, local) = StreamTransport.CreateInMemoryPair();
        var options = new SessionOptions
        {
            HandshakeTimeout = TimeSpan.FromSeconds(5),
            AbuseBudget = 20,
            MaxConcurrentStreams = 16,
            AcceptBacklog = 8,
            MaxQueuedControlReplies = 64,
        };
        var drain = DrainAsync(peer.Input);
        // The HELLO goes first and the rest only once the session has opened stream 2, so that frames for it in
        // the input always find it open: the outcome depends on the bytes, not on thread timing.
        var helloLength = FirstHelloLength(input);
        await peer.Output.WriteAsync(input.AsMemory(0, helloLength));
        if (helloLength == input.Length)
        {
            // Nothing follows (or the HELLO is cut short): end the input now, not after a handshake timeout.
            await peer.Output.CompleteAsync();
        }
        MuxSession session;
        try
        {
            session = await MuxSession.StartAsync(local, SessionRole.Server, options).WaitAsync(HangLimit);
        }
        catch (MuxException)
        {
            // The caller owns the transport and closes it after a failed start, as the edge's connection handler does.
            await local.Output.CompleteAsync();
            await local.Input.CompleteAsync();
            await peer.Output.CompleteAsync();
            await drain.WaitAsync(HangLimit);
            return;
        }
        await using (session)
        {
            var opener = OpenOneAsync(session);
            var server = ServeAsync(session);
            if (helloLength < input.Length)
            {
                await peer.Output.WriteAsync(input.AsMemory(helloLength));
                await peer.Output.CompleteAsync();
            }
            var info = await session.Completion.WaitAsync(HangLimit);
            if (info.Code == ErrorCode.InternalError)
            {
                throw new FuzzInvariantException($"the session ended with an internal error: {info}");
            }
            await Task.WhenAll(opener, server).WaitAsync(HangLimit);
        }
        await drain.WaitAsync(HangLimit);
    }

    /// <summary>Length of the input's first frame when it is a HELLO the handshake will read whole; else all of it.</summary>
    private static int FirstHelloLength(byte[] input)
    {
        if (input.Length < FrameHeader.Size)
        {
            return input.Length;
        }
        var header = FrameHeader.Read(input);
        return header.Type == FrameType.Hello && header.Length <= Hello.MaxPayloadLength
            ? (int)Math.Min(input.Length, FrameHeader.Size + header.Length)
            : input.Length;
    }

    private static async Task DrainAsync(PipeReader reader)
    {
        while (true)
        {
            var result = await reader.ReadAsync();
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                break;
            }
        }
        await reader.CompleteAsync();
    }

    private static async Task OpenOneAsync(MuxSession session)
    {
        try
        {
            await using var stream = await session.OpenStreamAsync(new StreamOpenRequest(StreamKind.Http, "svc", "127.0.0.1:1").Encode());
            await stream.WriteAsync(new byte[40_000]);
            stream.CompleteWrites();
            await ReadToEndAsync(stream);
        }
        catch (MuxException)
        {
        }
    }

    private static async Task ServeAsync(MuxSession session)
    {
        var streams = new List<Task>();
        try
        {
            while (true)
            {
                var stream = await session.AcceptStreamAsync();
                streams.Add(EchoAsync(stream));
            }
        }
        catch (MuxException)
        {
        }
        await Task.WhenAll(streams);
    }

    /// <summary>Accepts a stream and echoes what it reads, as the tunnel's splice would.</summary>
    private static async Task EchoAsync(MuxStream stream)
    {
        await using (stream)
        {
            try
            {
                stream.Accept();
                var buffer = new byte[4096];
                int n;
                while ((n = await stream.ReadAsync(buffer)) > 0)
                {
                    await stream.WriteAsync(buffer.AsMemory(0, n));
                }
                stream.CompleteWrites();
            }
            catch (MuxException)
            {
            }
        }
    }

    private static async Task ReadToEndAsync(MuxStream stream)
    {
        var buffer = new byte[4096];
        while (await stream.ReadAsync(buffer) > 0)
        {
        }
    }

    /// <summary>
    /// The edge's handling of an agent's <c>register</c> message (docs/security.md, "Registration"): control messages
    /// are read off the input, and every one that lists services is handled as the edge does, alternately for two
    /// tokens whose grants overlap: each field checked and normalised (RegistrationHandler.Claims), the token's grant
    /// and policies applied, then the route table's ownership and conflict checks. Whatever the input: a refused
    /// service carries a reason; a registered one has hostnames in normal form that route to it; no hostname or port
    /// is ever owned by two tokens.
    /// </summary>
    public static void Registration(byte[] input) => RegistrationAsync(input).GetAwaiter().GetResult();

    private static async Task RegistrationAsync(byte[] input)
    {
        var (near, far) = StreamTransport.CreateInMemoryPair();
        var starting = MuxSession.StartAsync(far, SessionRole.Client);
        await using var mux = await MuxSession.StartAsync(near, SessionRole.Server).WaitAsync(HangLimit);
        await using var peer = await starting.WaitAsync(HangLimit);
        using var policyServices = new PolicyServices(TimeProvider.System, new AuthenticationSchemeProvider(Options.Create(new AuthenticationOptions())),
            new OptionsCache<JwtBearerOptions>(), new OptionsCache<OpenIdConnectOptions>(), new OptionsCache<CookieAuthenticationOptions>(),
            new EphemeralDataProtectionProvider(), NullLoggerFactory.Instance);
        var policies = new EdgePolicies(new EdgeConfig(), policyServices);
        var routes = new RouteTable();
        AgentSession[] agents =
        [
            new(mux, "wild", "agent-a", null, DateTimeOffset.UnixEpoch) { Grant = new TokenGrant("wild", ["*.wild.test", "app.example.com"], [2222, 2223]) },
            new(mux, "bank", "agent-b", null, DateTimeOffset.UnixEpoch) { Grant = new TokenGrant("bank", ["bank.wild.test", "*.example.com"], [2222]) },
        ];
        var channel = new ControlChannel(new MemoryStream(input, writable: false));
        var turn = 0;
        try
        {
            while (await channel.ReceiveAsync(CancellationToken.None) is { } message)
            {
                if (message.Services is not { } services)
                {
                    continue;
                }
                var agent = agents[turn++ % agents.Length];
                var results = routes.Register(agent, RegistrationHandler.Claims(agent.Grant!, services, policies));
                CheckRegistration(routes, services, results);
            }
        }
        catch (ProtocolException)
        {
        }
    }

    private static void CheckRegistration(RouteTable routes, IReadOnlyList<ServiceRegistration> services, IReadOnlyList<RegistrationResult> results)
    {
        if (results.Count != services.Count)
        {
            throw new FuzzInvariantException($"{services.Count} services registered, {results.Count} results");
        }
        foreach (var result in results.Where(r => !r.Ok && string.IsNullOrEmpty(r.Error)))
        {
            throw new FuzzInvariantException($"service '{result.Name}' refused without a reason");
        }
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in routes.Services)
        {
            var registration = entry.Registration;
            foreach (var host in registration.Hostnames)
            {
                if (!HostNames.TryNormalize(host, allowWildcard: true, out var normal, out _) || normal != host)
                {
                    throw new FuzzInvariantException($"{entry} is routed by '{host}', which is not in normal form");
                }
                if (owners.TryGetValue("host " + host, out var owner) && owner != entry.Owner)
                {
                    throw new FuzzInvariantException($"hostname {host} is held by tokens {owner} and {entry.Owner}");
                }
                owners["host " + host] = entry.Owner;
                if (!host.StartsWith('*') && registration.PathPrefix is null && routes.MatchHttp(host, "/")?.Owner != entry.Owner)
                {
                    throw new FuzzInvariantException($"{host} does not route to its owner {entry.Owner}");
                }
            }
            if (registration.Port is { } port)
            {
                if (owners.TryGetValue("port " + port, out var owner) && owner != entry.Owner)
                {
                    throw new FuzzInvariantException($"port {port} is held by tokens {owner} and {entry.Owner}");
                }
                owners["port " + port] = entry.Owner;
            }
        }
    }
}

/// <summary>A target found the code under test breaking one of its own promises: a crash, like any other exception.</summary>
internal sealed class FuzzInvariantException(string message) : Exception(message);
