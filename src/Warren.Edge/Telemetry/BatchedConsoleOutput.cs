using System.Text;

namespace Warren.Edge.Telemetry;

/// <summary>
/// The access log's console when standard output is a pipe, a file or journald (<see cref="EdgeServerOptions.AccessLogConsole"/>):
/// lines are gathered and written a batch at a time, where the console logger makes one write (and one wake of its
/// thread) per line, which at 20,000 requests a second was about a tenth of the edge's CPU (docs/performance.md). A
/// batch ends at a line boundary and stays within <see cref="PipeAtomicWrite"/> bytes, so that on a pipe the lines
/// other loggers write to the same output are never cut into one of ours. Used by one thread only.
/// </summary>
internal sealed class BatchedConsoleOutput(Stream output)
{
    /// <summary>PIPE_BUF on Linux: a write up to this size to a pipe is never interleaved with another writer's.</summary>
    public const int PipeAtomicWrite = 4096;

    private readonly byte[] _batch = new byte[PipeAtomicWrite];
    private byte[] _line = new byte[1024];
    private int _used;

    /// <summary>Adds <paramref name="line"/> and a newline; writes the batch first when the line would not fit in it.</summary>
    public void WriteLine(StringBuilder line)
    {
        var count = Utf8Line.Encode(line, ref _line);
        if (_used + count > _batch.Length)
        {
            WriteBatch();
        }
        if (count > _batch.Length)
        {
            output.Write(_line, 0, count); // longer than a batch (bounded fields make it rare): alone
            return;
        }
        _line.AsSpan(0, count).CopyTo(_batch.AsSpan(_used));
        _used += count;
    }

    /// <summary>Writes what is gathered (after each run of queued lines, so a quiet edge's lines are never held back).</summary>
    public void Flush()
    {
        WriteBatch();
        output.Flush();
    }

    private void WriteBatch()
    {
        if (_used > 0)
        {
            output.Write(_batch, 0, _used);
            _used = 0;
        }
    }
}
