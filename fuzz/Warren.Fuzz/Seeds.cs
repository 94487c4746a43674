using System.Buffers;
using Warren.Protocol.Framing;
using Warren.Protocol.Tunnel;

namespace Warren.Fuzz;

/// <summary>The starting corpus: well-formed inputs of every kind each target reads, written with the protocol's own writers.</summary>
internal static class Seeds
{
    private const byte V = FrameWriter.Version1;

    public static void Write(string directory)
    {
        Save(directory, "frames", "hello", Frames(w => FrameWriter.WriteHello(w, ClientHello)));
        Save(directory, "frames", "every-type", Frames(EveryFrameType));
        Save(directory, "control", "auth", Control(Auth));
        Save(directory, "control", "login-and-register", Control(Auth, Register, Results));
        Save(directory, "registration", "register", Control(Register));
        // Two tokens in turn (the target alternates): a wildcard and a name under it, a look-alike (KELVIN SIGN), mixed
        // case, an A-label, a shared port, then a re-registration of the first token's services.
        Save(directory, "registration", "overlapping-tokens", Control(
            Registering(Http("web", "*.wild.test", "www.wild.test"), Tcp("ssh", 2222)),
            Registering(Http("bank", "bank.wild.test", "ban\u212A.wild.test"), Tcp("db", 2222), Http("shop", "Shop.Example.com", "xn--bcher-kva.example.com")),
            Registering(Http("web", "bank.wild.test", "BANK.wild.test"), Http("web", "app.example.com"), Tcp("ssh2", 2223))));
        Save(directory, "session", "control-stream", Frames(w =>
        {
            FrameWriter.WriteHello(w, ClientHello);
            FrameWriter.WriteOpen(w, V, 1, new StreamOpenRequest(StreamKind.Control, "", "").Encode(), fin: false);
            FrameWriter.WriteData(w, V, 1, Control(Auth, Register), fin: true);
        }));
        Save(directory, "session", "every-type", Frames(w =>
        {
            FrameWriter.WriteHello(w, ClientHello);
            EveryFrameType(w);
        }));
        Save(directory, "session", "local-stream", Frames(w =>
        {
            FrameWriter.WriteHello(w, ClientHello);
            FrameWriter.WriteAccept(w, V, 2);
            FrameWriter.WriteWindowUpdate(w, V, 2, 65_536);
            FrameWriter.WriteData(w, V, 2, "response"u8, fin: true);
        }));
    }

    private static Hello ClientHello => new(V, V, SessionSettings.ProtocolDefaults);

    private static void EveryFrameType(IBufferWriter<byte> w)
    {
        FrameWriter.WriteOpen(w, V, 1, new StreamOpenRequest(StreamKind.Http, "app", "203.0.113.7:51234").Encode(), fin: false);
        FrameWriter.WriteData(w, V, 1, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n"u8, fin: false);
        FrameWriter.WriteWindowUpdate(w, V, 1, 4096);
        FrameWriter.WriteOpen(w, V, 3, new StreamOpenRequest(StreamKind.Tcp, "ssh", "198.51.100.1:2222").Encode(), fin: true);
        FrameWriter.WriteReset(w, V, 3, ErrorCode.Cancel);
        FrameWriter.WritePing(w, V, 42, ack: false);
        FrameWriter.WriteData(w, V, 1, [], fin: true);
        FrameWriter.WriteGoAway(w, V, 0, ErrorCode.NoError, "bye"u8);
    }

    private static ControlMessage Auth => new() { Type = ControlMessage.Auth, Token = "wrn_secret", Agent = "home", Version = "1.0" };

    private static ControlMessage Register => new()
    {
        Type = ControlMessage.Register,
        Services =
        [
            new ServiceRegistration { Name = "app", Kind = "http", Hostnames = ["app.example.com"], PathPrefix = "/api", MaxConcurrency = 8, ResponseTimeoutMs = 5000, MaxRequestBodySize = 1024 },
            new ServiceRegistration { Name = "ssh", Kind = "tcp", Port = 2222 },
        ],
    };

    private static ControlMessage Results => new()
    {
        Type = ControlMessage.RegisterResult,
        Results = [new RegistrationResult { Name = "app", Ok = true }, new RegistrationResult { Name = "ssh", Ok = false, Error = "port not allowed" }],
    };

    private static ControlMessage Registering(params ServiceRegistration[] services) => new() { Type = ControlMessage.Register, Services = services };

    private static ServiceRegistration Http(string name, params string[] hostnames) => new() { Name = name, Kind = "http", Hostnames = hostnames };

    private static ServiceRegistration Tcp(string name, int port) => new() { Name = name, Kind = "tcp", Port = port };

    private static byte[] Frames(Action<IBufferWriter<byte>> write)
    {
        var writer = new ArrayBufferWriter<byte>();
        write(writer);
        return writer.WrittenSpan.ToArray();
    }

    private static byte[] Control(params ControlMessage[] messages)
    {
        var stream = new MemoryStream();
        var channel = new ControlChannel(stream);
        foreach (var message in messages)
        {
            channel.SendAsync(message, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }
        return stream.ToArray();
    }

    private static void Save(string directory, string target, string name, byte[] bytes)
    {
        var path = Path.Combine(directory, target);
        Directory.CreateDirectory(path);
        File.WriteAllBytes(Path.Combine(path, "seed-" + name), bytes);
    }
}
