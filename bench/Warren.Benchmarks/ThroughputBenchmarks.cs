using BenchmarkDotNet.Attributes;

namespace Warren.Benchmarks;

/// <summary>
/// Bulk transfer through one session: each operation moves <see cref="BytesPerOperation"/> from client to server,
/// split over <see cref="Streams"/> concurrent streams, and waits for every stream's FIN back. MB/s = 32 MiB / Mean.
/// </summary>
public class ThroughputBenchmarks
{
    public const int BytesPerOperation = 32 * 1024 * 1024;
    private SessionHarness _harness = null!;
    private byte[] _chunk = [];
    private readonly byte[] _eof = new byte[1]; // read into only at EOF, when nothing is written to it

    [Params(Transport.InMemory, Transport.Tcp)]
    public Transport Transport { get; set; }

    [Params(1, 64)]
    public int Streams { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _harness = SessionHarness.StartAsync(Transport, SessionHarness.DiscardAsync).GetAwaiter().GetResult();
        _chunk = new byte[BytesPerOperation / Streams];
        Random.Shared.NextBytes(_chunk);
    }

    [GlobalCleanup]
    public void Cleanup() => _harness.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark]
    public Task Transfer32MiB()
    {
        var tasks = new Task[Streams];
        for (var i = 0; i < tasks.Length; i++)
        {
            tasks[i] = SendOneAsync();
        }
        return Task.WhenAll(tasks);
    }

    private async Task SendOneAsync()
    {
        await using var stream = await _harness.Client.OpenStreamAsync(ReadOnlyMemory<byte>.Empty);
        await stream.WriteAsync(_chunk);
        stream.CompleteWrites();
        // The server's FIN: every byte arrived and was read.
        _ = await stream.ReadAsync(Memory<byte>.Empty);
        _ = await stream.ReadAsync(_eof);
    }
}
