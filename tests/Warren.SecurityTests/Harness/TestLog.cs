using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Warren.SecurityTests.Harness;

/// <summary>
/// Every log line of one test (edge, agents, the test's own notes), kept in memory so tests can assert on them
/// (event names are part of each line) and written to the test's output at the end: xunit shows it when a test
/// fails. Background threads never touch <see cref="ITestOutputHelper"/> directly (unsafe after the test ends).
/// </summary>
internal sealed class TestLog : ILoggerProvider
{
    private const int MaxLines = 5000;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ITestOutputHelper _output;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
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

    public ILoggerFactory Factory { get; }

    public IReadOnlyList<string> Lines => [.. _lines];

    public void Note(string message) => Write("test", message);

    public bool Contains(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>Lines that contain every one of <paramref name="parts"/>.</summary>
    public IReadOnlyList<string> Matching(params string[] parts) =>
        [.. _lines.Where(l => parts.All(p => l.Contains(p, StringComparison.Ordinal)))];

    /// <summary>Waits until a line containing every one of <paramref name="parts"/> was logged; returns it.</summary>
    public async Task<string> WaitForAsync(TimeSpan timeout, params string[] parts)
    {
        await Wait.UntilAsync(() => Matching(parts).Count > 0, timeout, $"a log line with '{string.Join("', '", parts)}'").ConfigureAwait(false);
        return Matching(parts)[0];
    }

    private void Write(string source, string message)
    {
        _lines.Enqueue($"{_clock.Elapsed.TotalSeconds,8:0.000} {source}: {message}");
        while (_lines.Count > MaxLines && _lines.TryDequeue(out _))
        {
        }
    }

    public void Flush()
    {
        if (Interlocked.Exchange(ref _flushed, 1) == 1)
        {
            return;
        }
        try
        {
            foreach (var line in _lines)
            {
                _output.WriteLine(line);
            }
        }
        catch (InvalidOperationException)
        {
            // No active test any more.
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() => Factory.Dispose();

    private sealed class Logger(TestLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var name = string.IsNullOrEmpty(eventId.Name) ? "" : $"[{eventId.Name}]";
            log.Write($"{logLevel.ToString()[..4].ToLowerInvariant()} {category}{name}", formatter(state, exception) + (exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message));
        }
    }
}
