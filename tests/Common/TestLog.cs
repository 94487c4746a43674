using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Warren.Tests.Common;

/// <summary>
/// Every log line of one test (edge, agents, agent processes, the test's own notes), kept in memory so tests can
/// assert on them (event names are part of each line) and written to the test's output at the end: xunit shows it
/// when a test fails. Background threads never touch <see cref="ITestOutputHelper"/> directly (unsafe after the
/// test ends). Only the last <see cref="MaxLines"/> lines are kept: a 200 MB transfer must not fill memory with logs.
/// Shared as source by the test projects (tests/Common), as Kestrel shares its test sources.
/// </summary>
public sealed class TestLog : ILoggerProvider
{
    private const int MaxLines = 5000;
    private readonly ConcurrentQueue<string> _lines = new();
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
            .AddProvider(this));
    }

    /// <summary>The factory to hand to the edge, the agent and the demo.</summary>
    public ILoggerFactory Factory { get; }

    public IReadOnlyList<string> Lines => [.. _lines];

    public bool Contains(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>Lines that contain every one of <paramref name="parts"/>.</summary>
    public IReadOnlyList<string> Matching(params string[] parts) =>
        [.. _lines.Where(l => parts.All(p => l.Contains(p, StringComparison.Ordinal)))];

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

    private sealed class Logger(TestLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var name = string.IsNullOrEmpty(eventId.Name) ? "" : $"[{eventId.Name}]";
            var text = formatter(state, exception);
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
