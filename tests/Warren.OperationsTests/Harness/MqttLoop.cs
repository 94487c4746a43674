using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace Warren.OperationsTests.Harness;

/// <summary>
/// An MQTT QoS 1 subscriber and publisher (MQTTnet) through one port, as a sensor fleet and its dashboard would be,
/// while an operator restarts or upgrades something. The subscriber keeps a persistent session (clean session off,
/// the same client id), so the broker queues what is published while it is away; both reconnect at once when their
/// connection ends. The publisher sends the numbers 0, 1, 2, ... one after another, each resent until the broker
/// acknowledged it. Every connection that ended with a reset and every connect that failed (refused, or no answer
/// within a minute) is a failure; a connection the far side ends cleanly is counted, not a failure.
/// </summary>
internal sealed class MqttLoop : IAsyncDisposable
{
    private const string Topic = "warren/mix";
    private readonly CancellationTokenSource _publisherStop = new();
    private readonly CancellationTokenSource _subscriberStop = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly ConcurrentDictionary<int, byte> _received = new();
    private readonly TestLog _log;
    private readonly Task _subscriber;
    private readonly Task _publisher;
    private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _published;
    private long _cleanCloses;

    private MqttLoop(int port, TestLog log)
    {
        _log = log;
        _subscriber = Task.Run(() => SubscribeAsync(port));
        _publisher = Task.Run(() => PublishAsync(port));
    }

    public static MqttLoop Start(int port, TestLog log) => new(port, log);

    /// <summary>Messages the broker acknowledged (the numbers 0 to this minus one).</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Distinct messages the subscriber received.</summary>
    public int Received => _received.Count;

    /// <summary>Connections (either client's) the far side ended cleanly, with a FIN: each a reconnect.</summary>
    public long CleanCloses => Interlocked.Read(ref _cleanCloses);

    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>The numbers the broker acknowledged that the subscriber has not received (yet).</summary>
    public IReadOnlyList<long> Missing(long published) => [.. Enumerable.Range(0, (int)published).Where(n => !_received.ContainsKey(n)).Select(n => (long)n)];

    /// <summary>Waits until <paramref name="more"/> further messages were published and received.</summary>
    public Task WaitForMoreAsync(int more, string what)
    {
        var published = Published + more;
        var received = Received + more;
        return Wait.UntilAsync(() => (Published >= published && Received >= received) || !_failures.IsEmpty, what, TimeSpan.FromSeconds(120));
    }

    /// <summary>Waits until <paramref name="clean"/> connections ended cleanly in all (the long streams were closed).</summary>
    public Task WaitForCleanClosesAsync(long clean, string what) =>
        Wait.UntilAsync(() => CleanCloses >= clean || !_failures.IsEmpty, what, TimeSpan.FromSeconds(120));

    /// <summary>Stops publishing; the number of messages the broker acknowledged.</summary>
    public async Task<long> StopPublishingAsync()
    {
        await _publisherStop.CancelAsync();
        await _publisher;
        return Published;
    }

    private static MqttClientOptions Options(int port, string clientId, bool persistent) => new MqttClientOptionsBuilder()
        .WithTcpServer("127.0.0.1", port)
        .WithClientId(clientId)
        .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V311)
        .WithCleanSession(!persistent)
        // A connect may wait in the edge's grace queue while the agent restarts: generous.
        .WithTimeout(TimeSpan.FromSeconds(60))
        .WithKeepAlivePeriod(TimeSpan.FromSeconds(30))
        .Build();

    private async Task SubscribeAsync(int port)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e =>
        {
            var text = Encoding.UTF8.GetString(e.ApplicationMessage.Payload);
            _received.TryAdd(int.Parse(text, CultureInfo.InvariantCulture), 0);
            return Task.CompletedTask;
        };
        await RunConnectedAsync(client, Options(port, "warren-mix-subscriber", persistent: true), "subscriber", async (result, token) =>
        {
            if (!result.IsSessionPresent)
            {
                // The first connect: the subscription then lives in the broker's session across reconnects.
                await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(Topic, MqttQualityOfServiceLevel.AtLeastOnce).Build(), token);
            }
            _subscribed.TrySetResult(); // the publisher starts now: a message published before would reach nobody
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            client.DisconnectedAsync += OnDisconnected;
            try
            {
                if (client.IsConnected)
                {
                    await ended.Task.WaitAsync(token);
                }
            }
            finally
            {
                client.DisconnectedAsync -= OnDisconnected;
            }

            Task OnDisconnected(MqttClientDisconnectedEventArgs e)
            {
                ended.TrySetResult();
                return Task.CompletedTask;
            }
        });
    }

    private async Task PublishAsync(int port)
    {
        try
        {
            await _subscribed.Task.WaitAsync(_publisherStop.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        using var client = new MqttClientFactory().CreateMqttClient();
        var next = 0;
        await RunConnectedAsync(client, Options(port, "warren-mix-publisher", persistent: false), "publisher", async (_, token) =>
        {
            while (client.IsConnected)
            {
                var message = new MqttApplicationMessageBuilder().WithTopic(Topic)
                    .WithPayload(next.ToString(CultureInfo.InvariantCulture)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
                try
                {
                    var result = await client.PublishAsync(message, token);
                    if (!result.IsSuccess)
                    {
                        _failures.Enqueue($"publisher: message {next} answered {result.ReasonCode}");
                        return;
                    }
                }
                catch (Exception) when (token.IsCancellationRequested)
                {
                    return; // stopped while waiting for the acknowledgement (MQTTnet reports that as a timeout)
                }
                catch (Exception ex)
                {
                    if (client.IsConnected)
                    {
                        _failures.Enqueue($"publisher: message {next} failed on a live connection: {Describe(ex)}");
                        await DisconnectAsync(client, "publisher");
                    }
                    return; // the connection ended before the acknowledgement: the same message again after the reconnect
                }
                next++;
                Interlocked.Exchange(ref _published, next);
                // About 50 messages a second: a steady stream, not a load test.
                await Task.Delay(20, token);
            }
        });
    }

    /// <summary>
    /// Connects, runs <paramref name="connected"/> until the connection ends, and connects again, until stopped.
    /// How each connection ended is judged by the exception MQTTnet reports: a reset is a failure.
    /// </summary>
    private async Task RunConnectedAsync(IMqttClient client, MqttClientOptions options, string who,
        Func<MqttClientConnectResult, CancellationToken, Task> connected)
    {
        var token = who == "subscriber" ? _subscriberStop.Token : _publisherStop.Token;
        client.DisconnectedAsync += e =>
        {
            if (e.ClientWasConnected && !token.IsCancellationRequested)
            {
                OnConnectionEnded(who, e);
            }
            return Task.CompletedTask;
        };
        while (!token.IsCancellationRequested)
        {
            MqttClientConnectResult result;
            try
            {
                result = await client.ConnectAsync(options, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (InvalidOperationException)
            {
                // MQTTnet still finishing the last connection's end (its "connect/disconnect is pending"): not the
                // network's answer, so not a failure; once it is done the connect goes out.
                await Task.Delay(50, CancellationToken.None);
                continue;
            }
            catch (Exception ex)
            {
                _failures.Enqueue($"{who}: connect failed: {Describe(ex)}");
                _log.Note($"mqtt {who}: connect failed: {Describe(ex)}");
                await Task.Delay(200, CancellationToken.None); // no busy loop against a port that refuses
                continue;
            }
            try
            {
                await connected(result, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            if (client.IsConnected && token.IsCancellationRequested)
            {
                break;
            }
            // Give the client's own receive loop the moment it needs to notice the close before connecting again.
            await Wait.UntilAsync(() => !client.IsConnected, $"the MQTT {who} noticed that its connection ended", TimeSpan.FromSeconds(60));
        }
        if (client.IsConnected)
        {
            await DisconnectAsync(client, who);
        }
    }

    /// <summary>
    /// A connection that broke under the disconnect is a failure of the test, reported with the others, not an exception
    /// out of the loop (one out of the stop left the other clients of the mix running).
    /// </summary>
    private async Task DisconnectAsync(IMqttClient client, string who)
    {
        try
        {
            await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None);
        }
        catch (Exception ex)
        {
            _failures.Enqueue($"{who}: disconnect failed: {Describe(ex)}");
        }
    }

    private void OnConnectionEnded(string who, MqttClientDisconnectedEventArgs e)
    {
        var reset = Chain(e.Exception).Any(x => x is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted }
            || x.Message.Contains("reset", StringComparison.OrdinalIgnoreCase));
        _log.Note($"mqtt {who}: connection ended ({e.Reason}): {(e.Exception is null ? "no exception" : Describe(e.Exception))}");
        if (reset)
        {
            _failures.Enqueue($"{who}: connection reset: {Describe(e.Exception!)}");
        }
        else
        {
            Interlocked.Increment(ref _cleanCloses);
        }
    }

    private static IEnumerable<Exception> Chain(Exception? exception)
    {
        for (var x = exception; x is not null; x = x.InnerException)
        {
            yield return x;
        }
    }

    private static string Describe(Exception exception) => string.Join(" <- ", Chain(exception).Select(x => $"{x.GetType().Name}: {x.Message}"));

    /// <summary>Stops both clients (publishing first, if <see cref="StopPublishingAsync"/> did not); a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _publisherStop.CancelAsync();
        await _subscriberStop.CancelAsync();
        await Task.WhenAll(_publisher, _subscriber);
        _publisherStop.Dispose();
        _subscriberStop.Dispose();
    }

    private int _disposed;
}
