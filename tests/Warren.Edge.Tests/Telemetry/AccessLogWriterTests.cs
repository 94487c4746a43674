using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using Warren.Configuration;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Tests.Telemetry;

/// <summary>
/// The access log's writer (docs/observability.md, "Access log"): the request path only queues; a stalled output
/// drops and counts lines instead of stalling requests; a file rotates at its size and keeps its number of files.
/// </summary>
public sealed class AccessLogWriterTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("warren-access-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static AccessEntry Line(int i) =>
        AccessEntry.Http("app", "GET", "app.test", "/item/" + i, 200, 1.5, 10, 20, IPAddress.Loopback, null);

    [Fact]
    public async Task Output_that_stalls_drops_and_counts_lines_and_never_blocks_the_request_path()
    {
        using var console = new StalledConsole();
        var registry = Metrics.NewCustomRegistry();
        var writer = new AccessLogWriter(new AccessLogConfig(), _folder, console.Factory, registry, capacity: 4);

        writer.Write(Line(0));
        Assert.True(console.Entered.Wait(TimeSpan.FromSeconds(30)), "the background task took the first line");
        for (var i = 1; i <= 7; i++)
        {
            writer.Write(Line(i)); // 4 fit in the queue while the output is stuck; 3 do not
        }

        Assert.Equal(3, writer.Dropped);
        Assert.Contains("warren_access_log_dropped_total 3", await Exposition(registry), StringComparison.Ordinal);
        console.Release();
        await writer.DisposeAsync();
        Assert.Equal(["/item/0", "/item/1", "/item/2", "/item/3", "/item/4"], console.Paths);
    }

    [Fact]
    public async Task File_rotates_at_its_size_and_keeps_its_number_of_files()
    {
        var path = Path.Combine(_folder, "logs", "access.log");
        var config = new AccessLogConfig { Output = AccessLogConfig.File, Path = path, MaxSize = 1024, MaxFiles = 2 };
        var writer = new AccessLogWriter(config, _folder, NullLoggerFactory.Instance, null);
        for (var i = 0; i < 60; i++)
        {
            writer.Write(Line(i));
        }
        await writer.DisposeAsync();

        Assert.True(File.Exists(path + ".2"));
        Assert.False(File.Exists(path + ".3"));
        string[] files = [path + ".2", path + ".1", path];
        Assert.All(files, f => Assert.InRange(new FileInfo(f).Length, 1, 1024));
        var lines = files.SelectMany(File.ReadAllLines).ToArray();
        // The newest lines, in order, each the console's fields after an ISO-8601 UTC timestamp.
        Assert.EndsWith(" app GET app.test/item/59 200 1.5ms in=10 out=20 client=127.0.0.1 session=-", lines[^1], StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(60 - lines.Length, lines.Length).Select(i => "/item/" + i), lines.Select(l => l.Split(' ')[3]["app.test".Length..]));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", lines[0]);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }

    [Fact]
    public async Task Console_stream_gets_lines_in_batches_of_whole_lines_within_a_pipes_atomic_write()
    {
        using var console = new RecordingStream();
        var writer = new AccessLogWriter(new AccessLogConfig(), _folder, NullLoggerFactory.Instance, null, console: console);

        writer.Write(Line(0));
        Assert.True(console.Entered.Wait(TimeSpan.FromSeconds(30)), "the background task wrote the first line");
        for (var i = 1; i <= 200; i++)
        {
            writer.Write(Line(i)); // queued while the output is busy with the first write
        }
        console.Release();
        await writer.DisposeAsync();

        var lines = console.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 201).Select(i => "/item/" + i), lines.Select(l => l.Split(' ')[5]["app.test".Length..]));
        Assert.Matches(@"^\d\d:\d\d:\d\d info: Warren\.Access\[900\] app GET app\.test/item/0 200 1\.5ms in=10 out=20 client=127\.0\.0\.1 session=-$", lines[0]);
        // One write per line through the console logger; here a few, each of whole lines and at most PIPE_BUF bytes.
        Assert.InRange(console.Writes.Count, 2, 12);
        Assert.All(console.Writes, w => Assert.True(w.Length <= BatchedConsoleOutput.PipeAtomicWrite && w[^1] == '\n', $"a write of {w.Length} bytes"));
    }

    [Fact]
    public async Task Off_queues_nothing()
    {
        var writer = new AccessLogWriter(new AccessLogConfig { Output = AccessLogConfig.Off }, _folder, NullLoggerFactory.Instance, null);

        Assert.False(writer.Enabled);
        writer.Write(Line(1));
        await writer.DisposeAsync();
        Assert.Equal(0, writer.Dropped);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_folder));
    }

    [Fact]
    public void File_that_cannot_be_opened_stops_the_start_with_the_key_named()
    {
        var blocker = Path.Combine(_folder, "not-a-folder");
        File.WriteAllText(blocker, "");
        var config = new AccessLogConfig { Output = AccessLogConfig.File, Path = Path.Combine(blocker, "access.log") };

        var error = Assert.Throws<InvalidOperationException>(() => new AccessLogWriter(config, _folder, NullLoggerFactory.Instance, null));

        Assert.StartsWith("access_log.path: cannot open ", error.Message, StringComparison.Ordinal);
    }

    private static async Task<string> Exposition(CollectorRegistry registry)
    {
        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Standard output as the writer sees it: records each write; the first waits until the test releases it.</summary>
    private sealed class RecordingStream : Stream
    {
        private readonly ManualResetEventSlim _gate = new();

        public ManualResetEventSlim Entered { get; } = new();

        public List<byte[]> Writes { get; } = [];

        public string Text => System.Text.Encoding.UTF8.GetString(Writes.SelectMany(w => w).ToArray());

        public void Release() => _gate.Set();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Entered.Set();
            _gate.Wait(TimeSpan.FromSeconds(60));
            lock (Writes)
            {
                Writes.Add(buffer.AsSpan(offset, count).ToArray());
            }
        }

        public override void Flush()
        {
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            _gate.Dispose();
            Entered.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>A console whose every write waits until the test releases it: an output that cannot keep up.</summary>
    private sealed class StalledConsole : ILoggerProvider, ILogger
    {
        private readonly ManualResetEventSlim _gate = new();
        private readonly ConcurrentQueue<string> _paths = new();

        public StalledConsole() => Factory = LoggerFactory.Create(b => b.AddProvider(this));

        public ILoggerFactory Factory { get; }

        public ManualResetEventSlim Entered { get; } = new();

        public IReadOnlyList<string> Paths => [.. _paths];

        public void Release() => _gate.Set();

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id != 900)
            {
                return;
            }
            Entered.Set();
            _gate.Wait(TimeSpan.FromSeconds(60));
            if (state is IReadOnlyList<KeyValuePair<string, object?>> fields && fields.FirstOrDefault(f => f.Key == "Path").Value is string path)
            {
                _paths.Enqueue(path);
            }
        }

        public void Dispose()
        {
            Factory.Dispose();
            _gate.Dispose();
            Entered.Dispose();
        }
    }
}
