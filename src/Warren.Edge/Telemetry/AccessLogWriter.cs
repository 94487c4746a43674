using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Prometheus;
using Warren.Configuration;

namespace Warren.Edge.Telemetry;

/// <summary>
/// Writes the access log (docs/observability.md, "Access log") off the request path. The hot path runs inline on
/// socket threads (docs/architecture.md), and a console or a disk that stalls must not stall a request: the request
/// path only queues an <see cref="AccessEntry"/> (a few references and numbers, no formatting) into a bounded queue;
/// one background task bounds, escapes, formats and writes each line. When the queue is full the line is dropped and
/// counted (warren_access_log_dropped_total, and a warning at most once a minute), never waited for.
/// </summary>
internal sealed partial class AccessLogWriter : IAsyncDisposable
{
    /// <summary>Lines that may wait for the background task: about 5 MB at most, a second or two of a busy edge.</summary>
    public const int DefaultCapacity = 16 * 1024;

    private static readonly TimeSpan WarningInterval = TimeSpan.FromMinutes(1);

    private readonly Channel<AccessEntry>? _queue;
    private readonly ILogger _access;
    private readonly ILogger _logger;
    private readonly RotatingLogFile? _file;
    private readonly BatchedConsoleOutput? _console;
    private readonly Counter? _droppedMetric;
    private readonly TimeProvider _time;
    private readonly StringBuilder _line = new(256);
    private readonly Task _loop = Task.CompletedTask;
    private long _dropped;
    private long _droppedReported;
    private long _lastWarning;
    private bool _failed;

    /// <summary>Opens the sink <paramref name="config"/> names (a file: now, so a path that cannot be written stops the start).</summary>
    /// <param name="console">
    /// With <c>output: stdout</c>: where to write the text console's lines directly, in batches
    /// (<see cref="BatchedConsoleOutput"/>); null: through the <c>Warren.Access</c> logger, one line at a time.
    /// </param>
    public AccessLogWriter(AccessLogConfig config, string dataDirectory, ILoggerFactory loggerFactory, CollectorRegistry? registry,
        TimeProvider? time = null, int capacity = DefaultCapacity, Stream? console = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _access = loggerFactory.CreateLogger(AccessLog.Category);
        _logger = loggerFactory.CreateLogger("Warren.Edge");
        _time = time ?? TimeProvider.System;
        _lastWarning = _time.GetTimestamp() - (long)(WarningInterval.TotalSeconds * _time.TimestampFrequency);
        Output = config.Output;
        if (config.Output == AccessLogConfig.File)
        {
            var path = config.FilePath(dataDirectory);
            try
            {
                _file = new RotatingLogFile(path, config.MaxSize, config.MaxFiles);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"access_log.path: cannot open {path} for writing: {ex.Message}", ex);
            }
        }
        if (config.Output == AccessLogConfig.Stdout && console is not null)
        {
            _console = new BatchedConsoleOutput(console);
        }
        if (config.Output == AccessLogConfig.Off || (_file is null && _console is null && !_access.IsEnabled(LogLevel.Information)))
        {
            return; // nothing is ever queued
        }
        _droppedMetric = registry is null ? null : Metrics.WithCustomRegistry(registry).CreateCounter(
            "warren_access_log_dropped_total", "Access-log lines dropped because the log's queue was full (its output could not keep up).");
        // One reader; writers are the socket threads. Continuations never run inline on a writer's thread.
        _queue = Channel.CreateBounded<AccessEntry>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: the line is dropped and counted
        });
        _loop = Task.Run(RunAsync);
    }

    /// <summary><c>access_log.output</c>: stdout, file or off.</summary>
    public string Output { get; }

    /// <summary>False when lines go nowhere: the request path then does not even build an entry.</summary>
    public bool Enabled => _queue is not null;

    /// <summary>Lines dropped so far because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Queues one line; never waits, never throws (a full queue drops it and counts the drop).</summary>
    public void Write(in AccessEntry entry)
    {
        if (_queue is not null && !_queue.Writer.TryWrite(entry))
        {
            Interlocked.Increment(ref _dropped);
            _droppedMetric?.Inc();
        }
    }

    /// <summary>Writes what is queued (waiting up to 5 s), then closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue?.Writer.TryComplete();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The output is stuck: the edge stops anyway.
        }
        _file?.Dispose();
    }

    /// <summary>
    /// How long the task lets lines gather after the first one wakes it, as the request log does
    /// (RequestLogWriter.GatherWindow). Woken per line, a lone client's requests cost a thread-pool wake-up each:
    /// about 10 % of the edge's CPU at one connection, and most of its futex calls (docs/performance.md, "Access log").
    /// </summary>
    internal static readonly TimeSpan GatherWindow = TimeSpan.FromMilliseconds(50);

    private async Task RunAsync()
    {
        var reader = _queue!.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!reader.Completion.IsCompleted)
            {
                await Task.Delay(GatherWindow).ConfigureAwait(false); // a stop completes the queue: what is in it is written at once
            }
            while (reader.TryRead(out var entry))
            {
                WriteOne(entry);
            }
            Flush();
            ReportDrops();
        }
    }

    private void WriteOne(in AccessEntry entry)
    {
        // Host and path are the client's bytes: bounded and escaped (the Host header as sent: request.Host decodes
        // "xn--" labels and throws on malformed ones).
        var host = entry.Tcp ? null : LogText.Bound(entry.Host);
        var path = entry.Tcp ? null : LogText.Bound(entry.Path, 1024);
        var address = entry.Client is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : entry.Client;
        var session = entry.Session is { } one ? one.LogName : entry.Tcp ? "-" : AccessLog.SessionsOf(entry.Sessions);
        if (_file is null && _console is null)
        {
            var client = address?.ToString() ?? "-";
            if (entry.Tcp)
            {
                AccessLog.Tcp(_access, entry.Service, entry.StatusOrPort, entry.Result!, entry.DurationMs, entry.BytesIn, entry.BytesOut, client, session);
            }
            else
            {
                AccessLog.Http(_access, entry.Service, entry.Method!, host!, path!, entry.StatusOrPort, entry.DurationMs, entry.BytesIn, entry.BytesOut, client, session);
            }
            return;
        }
        // The same fields in the same order as the logger's line: in a file after an ISO-8601 UTC timestamp; on the
        // console with the text console's prefix (local time, level, category and event id), as the logger would.
        var line = _line.Clear();
        var invariant = CultureInfo.InvariantCulture;
        if (_file is not null)
        {
            line.Append(invariant, $"{entry.Utc:yyyy-MM-ddTHH:mm:ss.fffZ} ");
        }
        else
        {
            line.Append(invariant, $"{entry.Utc.ToLocalTime():HH:mm:ss}").Append(" info: ").Append(AccessLog.Category)
                .Append(entry.Tcp ? "[901] " : "[900] ");
        }
        line.Append(entry.Service).Append(' ');
        if (entry.Tcp)
        {
            line.Append(invariant, $"TCP :{entry.StatusOrPort} {entry.Result}");
        }
        else
        {
            line.Append(entry.Method).Append(' ').Append(host).Append(path).Append(' ').Append(invariant, $"{entry.StatusOrPort}");
        }
        // Formatted straight into the line (no string per number or address).
        line.Append(invariant, $" {entry.DurationMs:0.###}ms in={entry.BytesIn} out={entry.BytesOut} client=");
        if (address is null)
        {
            line.Append('-');
        }
        else
        {
            line.Append(invariant, $"{address}");
        }
        line.Append(" session=").Append(session);
        try
        {
            if (_file is not null)
            {
                _file.WriteLine(line);
            }
            else
            {
                _console!.WriteLine(line);
            }
            _failed = false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A full disk, a removed folder, a closed pipe: the edge keeps serving; the line is lost, said once until
            // it works again.
            if (!_failed)
            {
                _failed = true;
                Log.FileFailed(_logger, OutputName, ex.Message);
            }
        }
    }

    private string OutputName => _file?.FilePath ?? "standard output";

    private void Flush()
    {
        try
        {
            _file?.Flush();
            _console?.Flush();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (!_failed)
            {
                _failed = true;
                Log.FileFailed(_logger, OutputName, ex.Message);
            }
        }
    }

    private void ReportDrops()
    {
        var dropped = Dropped;
        if (dropped > _droppedReported && _time.GetElapsedTime(_lastWarning) >= WarningInterval)
        {
            Log.Dropped(_logger, dropped - _droppedReported, Output);
            _droppedReported = dropped;
            _lastWarning = _time.GetTimestamp();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(902, LogLevel.Warning, "Access log: {Count} lines dropped since the last report: its output ({Output}) does not keep up (warren_access_log_dropped_total)", EventName = "AccessLogDropped")]
        public static partial void Dropped(ILogger logger, long count, string output);

        [LoggerMessage(903, LogLevel.Warning, "Access log: cannot write {Path}: {Error}; lines are lost until it works again", EventName = "AccessLogFailed")]
        public static partial void FileFailed(ILogger logger, string path, string error);
    }
}
