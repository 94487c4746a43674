using BenchmarkDotNet.Attributes;

namespace Warren.Benchmarks;

/// <summary>
/// Request/response the way the tunnel uses streams: each request opens a stream, sends 128 B with FIN, reads the
/// 128 B echo to EOF. <see cref="Concurrency"/> requests run at once over one in-memory session; Mean is the time
/// per request (OperationsPerInvoke), so requests/s = 1 s / Mean.
/// </summary>
public class RoundTripBenchmarks
{
    public const int RequestsPerInvoke = 10_000;
    private SessionHarness _harness = null!;
    private readonly byte[] _request = new byte[128];

    [Params(1, 10, 50, 64, 100, 1000)]
    public int Concurrency { get; set; }

    [GlobalSetup]
    public void Setup() => _harness = SessionHarness.StartAsync(Transport.InMemory, SessionHarness.EchoAsync).GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup() => _harness.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(OperationsPerInvoke = RequestsPerInvoke)]
    public Task RequestResponse()
    {
        // Concurrency workers share 10,000 requests, so every configuration does the same work per invocation and even
        // at 1,000 streams each worker runs ten in a row: the figure is a sustained rate, not one burst of opens.
        var remaining = RequestsPerInvoke;
        var workers = new Task[Concurrency];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(async () =>
            {
                var response = new byte[_request.Length];
                while (Interlocked.Decrement(ref remaining) >= 0)
                {
                    await using var stream = await _harness.Client.OpenStreamAsync(ReadOnlyMemory<byte>.Empty);
                    await stream.WriteAsync(_request);
                    stream.CompleteWrites();
                    await stream.ReadExactlyAsync(response);
                    _ = await stream.ReadAsync(response);
                }
            });
        }
        return Task.WhenAll(workers);
    }
}
