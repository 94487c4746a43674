using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Warren.FunctionalTests.Harness;

/// <summary>
/// Captures every log line of one test (edge, agent, agent processes, the test's own notes) in memory and writes
/// them to the test's output when the test ends, so a failing test shows what the tunnel was doing. Writing to
/// <see cref="ITestOutputHelper"/> directly from background threads is unsafe after the test finished, hence the
/// buffer. The buffer keeps the last <see cref="MaxLines"/> lines (a 200 MB transfer must not fill memory with logs).
/// </summary>
public sealed class TestLog : ILoggerProvider, IDisposable
{
    private const int MaxLines = 4000;
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

    public void Write(string source, string message)
    {
        _lines.Enqueue($"{_clock.Elapsed.TotalSeconds,8:0.000} {source}: {message}");
        while (_lines.Count > MaxLines && _lines.TryDequeue(out _))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>A note from the test itself (what it is doing), interleaved with the logs.</summary>
    public void Note(string message) => Write("test", message);

    /// <summary>Writes the captured lines to the test output (xunit shows it for failed tests).</summary>
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
            while (_lines.TryDequeue(out var line))
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
            var text = formatter(state, exception);
            if (exception is not null)
            {
                text += " | " + exception.GetType().Name + ": " + exception.Message;
            }
            log.Write($"{Short(logLevel)} {category}", text);
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
