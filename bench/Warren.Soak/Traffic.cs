using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Warren.LoadTest;

namespace Warren.Soak;

internal enum OpKind
{
    HttpSmall,
    HttpDownload,
    HttpUpload,
    WebSocket,
    Tcp,
}

/// <summary>One failed operation: when it ran, what went wrong, and whether bytes were wrong (never expected).</summary>
internal sealed record Failure(OpKind Kind, DateTime Start, DateTime End, string What, bool Corruption, string Detail);

/// <summary>Bytes arrived that are not the bytes sent, or a body ended cleanly short: always an unexpected failure.</summary>
internal sealed class CorruptionException(string message) : Exception(message);

/// <summary>A TCP echo ended with a FIN before every byte came back.</summary>
internal sealed class EarlyEndException(string message) : IOException(message);

/// <summary>The edge answered with a status other than 200.</summary>
internal sealed class StatusException(int status) : Exception($"HTTP {status}")
{
    public int Status { get; } = status;
}

/// <summary>
/// Mixed traffic through the edge, bounded by the number of workers: each worker runs one operation at a time, picked
/// at random (seeded): small GETs, large downloads and uploads, WebSocket echo conversations and TCP echo streams.
/// Every byte is checked against <see cref="Pattern"/>; each success adds its verified bytes, each failure is kept.
/// </summary>
internal sealed class Traffic : IDisposable
{
    public static readonly OpKind[] Kinds = Enum.GetValues<OpKind>();

    // Weights out of 100: mostly small requests, with enough large transfers to keep the windows busy.
    private static readonly (OpKind Kind, int Weight)[] Mix =
        [(OpKind.HttpSmall, 50), (OpKind.HttpDownload, 14), (OpKind.HttpUpload, 14), (OpKind.WebSocket, 11), (OpKind.Tcp, 11)];

    private readonly HttpClient _http;
    private readonly int _httpPort;
    private readonly int _tcpPort;
    private readonly TimeSpan _opTimeout;
    private readonly int _seed;
    private readonly long[] _ok = new long[Kinds.Length];
    private readonly long[] _bytes = new long[Kinds.Length];

    public Traffic(int edgeHttpPort, int edgeTcpPort, TimeSpan opTimeout, int seed)
    {
        _http = new HttpClient(Loopback.Handler(edgeHttpPort, 0)) { Timeout = Timeout.InfiniteTimeSpan };
        _httpPort = edgeHttpPort;
        _tcpPort = edgeTcpPort;
        _opTimeout = opTimeout;
        _seed = seed;
    }

    public ConcurrentQueue<Failure> Failures { get; } = new();

    public long Ok(OpKind kind) => Interlocked.Read(ref _ok[(int)kind]);

    public long Bytes(OpKind kind) => Interlocked.Read(ref _bytes[(int)kind]);

    public Task RunAsync(int workers, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, workers).Select(i => Task.Run(() => WorkerAsync(i, stop), CancellationToken.None)));

    private async Task WorkerAsync(int index, CancellationToken stop)
    {
        var random = new Random(_seed * 1000 + index);
        var buffer = new byte[64 * 1024];
        var spare = new byte[64 * 1024];
        while (!stop.IsCancellationRequested)
        {
            var kind = Pick(random);
            var seed = (ulong)random.NextInt64();
            var start = DateTime.UtcNow;
            // The operation is not cancelled when the run stops: it finishes, so nothing is cut by the harness itself.
            using var timeout = new CancellationTokenSource(_opTimeout);
            try
            {
                var bytes = kind switch
                {
                    OpKind.HttpSmall => await DownloadAsync(seed, random.Next(0, 4097), buffer, timeout.Token),
                    OpKind.HttpDownload => await DownloadAsync(seed, random.Next(256 * 1024, 8 * 1024 * 1024 + 1), buffer, timeout.Token),
                    OpKind.HttpUpload => await UploadAsync(seed, random.Next(256 * 1024, 8 * 1024 * 1024 + 1), timeout.Token),
                    OpKind.WebSocket => await WebSocketAsync(seed, random, buffer, spare, timeout.Token),
                    _ => await TcpAsync(seed, random.Next(16 * 1024, 2 * 1024 * 1024 + 1), buffer, spare, timeout.Token),
                };
                Interlocked.Increment(ref _ok[(int)kind]);
                Interlocked.Add(ref _bytes[(int)kind], bytes);
            }
            catch (Exception ex)
            {
                var what = ex switch
                {
                    CorruptionException => "corrupt: " + ex.Message,
                    OperationCanceledException when timeout.IsCancellationRequested => $"no answer within {_opTimeout.TotalSeconds:0} s",
                    _ => Describe(ex),
                };
                Failures.Enqueue(new Failure(kind, start, DateTime.UtcNow, what, ex is CorruptionException, ex.ToString()));
                // A failing edge answers fast (503 while no agent): do not spin on it.
                await Task.Delay(200, CancellationToken.None);
            }
        }
    }

    private static OpKind Pick(Random random)
    {
        var n = random.Next(100);
        foreach (var (kind, weight) in Mix)
        {
            if (n < weight)
            {
                return kind;
            }
            n -= weight;
        }
        return Mix[^1].Kind;
    }

    /// <summary>A short, groupable description: status code, or exception type with its error code.</summary>
    internal static string Describe(Exception ex)
    {
        var root = ex;
        while (root.InnerException is not null && root is HttpRequestException or WebSocketException or IOException)
        {
            root = root.InnerException;
        }
        var head = ex switch
        {
            StatusException s => $"HTTP {s.Status}",
            EarlyEndException => "TCP echo ended early by a FIN",
            HttpRequestException h => $"HttpRequestException ({h.HttpRequestError})",
            WebSocketException w => $"WebSocketException ({w.WebSocketErrorCode})",
            _ => ex.GetType().Name,
        };
        var tail = root switch
        {
            _ when ReferenceEquals(root, ex) => ex is SocketException se ? $" {se.SocketErrorCode}" : "",
            SocketException se => $" <- SocketException {se.SocketErrorCode}",
            _ => $" <- {root.GetType().Name}",
        };
        return head + tail;
    }

    private Uri Url(string path) => new($"http://web.soak:{_httpPort}{path}");

    private async Task<long> DownloadAsync(ulong seed, int length, byte[] buffer, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Url(string.Create(CultureInfo.InvariantCulture, $"/bytes/{seed}/{length}")));
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new StatusException((int)response.StatusCode);
        }
        if (response.Content.Headers.ContentLength is { } declared && declared != length)
        {
            throw new CorruptionException($"Content-Length {declared}, expected {length}");
        }
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        long offset = 0;
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
        {
            if (offset + read > length)
            {
                throw new CorruptionException($"more than the {length} bytes asked for");
            }
            if (Pattern.FirstMismatch(seed, offset, buffer.AsSpan(0, read)) is var bad and >= 0)
            {
                throw new CorruptionException($"download byte {bad} of {length} is wrong");
            }
            offset += read;
        }
        if (offset != length)
        {
            throw new CorruptionException($"download ended cleanly after {offset} of {length} bytes");
        }
        return length;
    }

    private async Task<long> UploadAsync(ulong seed, int length, CancellationToken cancellationToken)
    {
        using var content = new StreamContent(new PatternStream(seed, length), 64 * 1024);
        content.Headers.ContentLength = length;
        using var response = await _http.PostAsync(Url(string.Create(CultureInfo.InvariantCulture, $"/upload/{seed}")), content, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new StatusException((int)response.StatusCode);
        }
        var answer = (await response.Content.ReadAsStringAsync(cancellationToken)).Split(' ');
        if (answer.Length != 2 || !long.TryParse(answer[0], CultureInfo.InvariantCulture, out var received) || !long.TryParse(answer[1], CultureInfo.InvariantCulture, out var firstBad))
        {
            throw new CorruptionException($"the backend's answer to an upload is not 'received firstBad': {string.Join(' ', answer)}");
        }
        if (firstBad >= 0)
        {
            throw new CorruptionException($"upload byte {firstBad} of {length} arrived wrong at the backend");
        }
        if (received != length)
        {
            throw new CorruptionException($"the backend took {received} of {length} uploaded bytes as a complete body");
        }
        return length;
    }

    private async Task<long> WebSocketAsync(ulong seed, Random random, byte[] send, byte[] receive, CancellationToken cancellationToken)
    {
        using var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        await socket.ConnectAsync(new Uri($"ws://web.soak:{_httpPort}/ws"), _http, cancellationToken);
        var messages = random.Next(1, 17);
        long verified = 0;
        for (var m = 0; m < messages; m++)
        {
            var size = random.Next(1, send.Length + 1);
            var messageSeed = seed + (ulong)m;
            Pattern.Fill(messageSeed, 0, send.AsSpan(0, size));
            await socket.SendAsync(send.AsMemory(0, size), WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);
            long got = 0;
            while (true)
            {
                var result = await socket.ReceiveAsync(receive, cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, $"closed by the edge ({result.CloseStatus}) after {got} of {size} echoed bytes");
                }
                if (got + result.Count > size || Pattern.FirstMismatch(messageSeed, got, receive.AsSpan(0, result.Count)) is var bad and >= 0)
                {
                    throw new CorruptionException($"WebSocket echo of message {m} ({size} bytes) is wrong near byte {got}");
                }
                got += result.Count;
                if (result.EndOfMessage)
                {
                    break;
                }
            }
            if (got != size)
            {
                throw new CorruptionException($"WebSocket echo of message {m} ended after {got} of {size} bytes");
            }
            verified += size;
        }
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken);
        return verified;
    }

    private async Task<long> TcpAsync(ulong seed, int length, byte[] send, byte[] receive, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _tcpPort), cancellationToken);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writer = Task.Run(async () =>
        {
            for (long offset = 0; offset < length;)
            {
                var count = (int)Math.Min(send.Length, length - offset);
                Pattern.Fill(seed, offset, send.AsSpan(0, count));
                await stream.WriteAsync(send.AsMemory(0, count), failed.Token);
                offset += count;
            }
            socket.Shutdown(SocketShutdown.Send);
        }, CancellationToken.None);
        try
        {
            long got = 0;
            int read;
            while ((read = await stream.ReadAsync(receive, cancellationToken)) > 0)
            {
                if (got + read > length || Pattern.FirstMismatch(seed, got, receive.AsSpan(0, read)) is var bad and >= 0)
                {
                    throw new CorruptionException($"TCP echo of {length} bytes is wrong near byte {got}");
                }
                got += read;
            }
            await writer;
            if (got != length)
            {
                // TCP has no length: a FIN before every byte came back is the edge ending the connection early.
                throw new EarlyEndException($"TCP echo ended (FIN) after {got} of {length} bytes");
            }
            return length;
        }
        catch
        {
            await failed.CancelAsync();
            socket.Close(0); // RST: unblocks the writer
            try
            {
                await writer;
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
            throw;
        }
    }

    public void Dispose() => _http.Dispose();
}
