using Microsoft.Extensions.Logging.Abstractions;
using Warren.Agent.Services;
using Warren.Configuration;
using Warren.Demo;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Tunnel;

namespace Warren.Agent.Tests.Services;

/// <summary>
/// The agent's dispatcher behind a real session (in-memory pipes): a stream names a configured service and only
/// that service's target is dialled; anything else is reset with the code the edge maps to an HTTP answer.
/// </summary>
public sealed class StreamDispatcherTests : IAsyncLifetime
{
    private readonly TcpEchoService _echo = new();
    private readonly PortReservation _closed = PortReservation.Reserve();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _serving = [];
    private MuxPair _pair = null!;

    public async Task InitializeAsync() => _pair = await MuxPair.StartAsync(NullLoggerFactory.Instance);

    [Theory]
    [InlineData(StreamKind.Http, "ghost")]
    [InlineData(StreamKind.Tcp, "web")]
    [InlineData(StreamKind.Http, "echo")]
    [InlineData(StreamKind.Control, "web")]
    public async Task Stream_for_a_service_the_agent_does_not_serve_as_that_kind_is_reset_UNKNOWN_SERVICE(StreamKind kind, string service)
    {
        var dispatcher = Dispatcher(Web(), Echo());

        var refused = await Assert.ThrowsAsync<StreamAbortedException>(() => OpenAsync(dispatcher, kind, service));

        Assert.Equal(ErrorCode.UnknownService, refused.Code);
    }

    [Fact]
    public async Task Target_refusing_the_connection_resets_the_stream_DIAL_FAILED()
    {
        var dispatcher = Dispatcher(Web() with { Target = new Uri($"http://127.0.0.1:{_closed.Port}") });

        var refused = await Assert.ThrowsAsync<StreamAbortedException>(() => OpenAsync(dispatcher, StreamKind.Http, "web"));

        Assert.Equal(ErrorCode.DialFailed, refused.Code);
    }

    [Fact]
    public async Task Tcp_stream_is_spliced_to_the_service_target_both_ways_with_half_close()
    {
        var dispatcher = Dispatcher(Echo());
        await using var stream = await OpenAsync(dispatcher, StreamKind.Tcp, "echo");

        await stream.WriteAsync("ping through the dispatcher"u8.ToArray());
        stream.CompleteWrites();
        using var echoed = new MemoryStream();
        await stream.CopyToAsync(echoed).WaitAsync(Wait.DefaultTimeout);

        Assert.Equal("ping through the dispatcher"u8.ToArray(), echoed.ToArray());
    }

    [Fact]
    public async Task Stream_past_max_concurrency_and_the_queue_timeout_is_reset_OVERLOADED_and_the_slot_frees_with_its_connection()
    {
        var services = new ServiceSet([Echo() with { MaxConcurrency = 1, QueueTimeout = TimeSpan.FromMilliseconds(100) }]);
        var service = services["echo"];
        var dispatcher = new StreamDispatcher(services, TimeProvider.System, NullLogger.Instance);
        var holder = await OpenAsync(dispatcher, StreamKind.Tcp, "echo");

        var refused = await Assert.ThrowsAsync<StreamAbortedException>(() => OpenAsync(dispatcher, StreamKind.Tcp, "echo"));
        Assert.Equal(ErrorCode.Overloaded, refused.Code);
        Assert.Equal(1, service.InFlight);

        holder.CompleteWrites();
        await holder.CopyToAsync(Stream.Null).WaitAsync(Wait.DefaultTimeout);
        await holder.DisposeAsync();
        await Wait.UntilAsync(() => service.InFlight == 0, "the slot is released once the backend connection is closed");
        await using var next = await OpenAsync(dispatcher, StreamKind.Tcp, "echo");
    }

    private ServiceConfig Web() => new() { Name = "web", Hostnames = ["web.test"], Target = new Uri($"http://127.0.0.1:{_echo.Port}") };

    private ServiceConfig Echo() => new() { Name = "echo", Port = 2222, Target = new Uri($"tcp://127.0.0.1:{_echo.Port}") };

    private static StreamDispatcher Dispatcher(params ServiceConfig[] services) =>
        new(new ServiceSet(services), TimeProvider.System, NullLogger.Instance);

    /// <summary>Opens a stream from the edge's end; the agent's end hands it to <paramref name="dispatcher"/>.</summary>
    private async Task<Warren.Protocol.Streams.MuxStream> OpenAsync(StreamDispatcher dispatcher, StreamKind kind, string service)
    {
        var open = _pair.Edge.OpenStreamAsync(new StreamOpenRequest(kind, service, "198.51.100.1:1000").Encode()).AsTask();
        var accepted = await _pair.Agent.AcceptStreamAsync().AsTask().WaitAsync(Wait.DefaultTimeout);
        _serving.Add(dispatcher.ServeAsync(accepted, _stopping.Token));
        return await open.WaitAsync(Wait.DefaultTimeout);
    }

    public async Task DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _pair.DisposeAsync();
        try
        {
            await Task.WhenAll(_serving).WaitAsync(Wait.DefaultTimeout);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // a splice cut short by the session's end: what the test asserted has already happened
        }
        await _echo.DisposeAsync();
        _closed.Dispose();
        _stopping.Dispose();
    }
}
