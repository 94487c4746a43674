using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Warren.Testing.Logging;

/// <summary>
/// Every log line of one test (edge, agents, agent processes, the test's own notes), kept in memory so tests can
/// assert on them (event names are part of each line, structured fields are in <see cref="Entries"/>) and written
/// to the test's output at the end: xunit shows it when a test fails. Background threads never touch
/// <see cref="ITestOutputHelper"/> directly (unsafe after the test ends). Only the last <see cref="MaxLines"/> lines
/// and entries are kept: a 200 MB transfer must not fill memory with logs.
/// </summary>
internal sealed class TestLog : ILoggerProvider
{
    private const int MaxLines = 5000;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentQueue<LogEntry> _entries = new();
    private readonly ITestOutputHelper _output;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _dropped;
    private int _flushed;

    public TestLog(ITestOutputHelper output)
    {
        _output = output;
        Factory = LoggerFactory.Create(builder => builder
            .SetMinimumLevel(LogLevel.Debug)
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddFilter("System", LogLevel.Warning)
            .AddFilter("Yarp", LogLevel.Warning) // two lines per forwarded request: under load they push everything else out
            .AddProvider(this));
    }

    /// <summary>The factory to hand to the edge, the agent and the demo.</summary>
    public ILoggerFactory Factory { get; }

    public IReadOnlyList<string> Lines => [.. _lines];

    /// <summary>What each logger call carried: category, event, level, structured fields (as the JSON console writes them).</summary>
    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public bool Contains(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>Lines that contain every one of <paramref name="parts"/>.</summary>
    public IReadOnlyList<string> Matching(params string[] parts) =>
        [.. _lines.Where(l => parts.All(p => l.Contains(p, StringComparison.Ordinal)))];

    /// <summary>Waits until a line containing every one of <paramref name="parts"/> was logged; returns it.</summary>
    public async Task<string> WaitForAsync(TimeSpan timeout, params string[] parts)
    {
        await Wait.UntilAsync(() => Matching(parts).Count > 0, $"a log line with '{string.Join("', '", parts)}'", timeout).ConfigureAwait(false);
        return Matching(parts)[0];
    }

    /// <summary>A note from the test itself (what it is doing), interleaved with the logs.</summary>
    public void Note(string message) => Write("test", message);

    public void Write(string source, string message)
    {
        _lines.Enqueue($"{_clock.Elapsed.TotalSeconds,8:0.000} {source}: {message}");
        while (_lines.Count > MaxLines && _lines.TryDequeue(out _))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Writes the captured lines to the test output, once.</summary>
    public void Flush()
    {
        if (Interlocked.Exchange(ref _flushed, 1) == 1)
        {
            return;
        }
        try
        {
            if (_dropped > 0)
            {
                _output.WriteLine($"({_dropped} earlier log lines dropped)");
            }
            foreach (var line in _lines)
            {
                _output.WriteLine(line);
            }
        }
        catch (InvalidOperationException)
        {
            // No active test any more: nothing to write to.
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
        Flush();
        Factory.Dispose();
    }

    private void Record(LogEntry entry)
    {
        _entries.Enqueue(entry);
        while (_entries.Count > MaxLines && _entries.TryDequeue(out _))
        {
        }
    }

    private sealed class Logger(TestLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var name = string.IsNullOrEmpty(eventId.Name) ? "" : $"[{eventId.Name}]";
            var message = formatter(state, exception);
            var fields = state is IReadOnlyList<KeyValuePair<string, object?>> list ? list.ToDictionary(p => p.Key, p => p.Value) : [];
            log.Record(new LogEntry(category, eventId.Name, logLevel, fields, message));
            var text = message;
            if (exception is not null)
            {
                text += " | " + exception.GetType().Name + ": " + exception.Message;
            }
            log.Write($"{Short(logLevel)} {category}{name}", text);
        }

        private static string Short(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }
}
