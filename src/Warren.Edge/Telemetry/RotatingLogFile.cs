using System.Text;
using Warren.Edge.Hosting;

namespace Warren.Edge.Telemetry;

/// <summary>
/// The access log's file (<c>access_log.output: file</c>): lines appended through a buffer, and rotated when the next
/// line would take the file past <c>max_size</c>: access.log becomes access.log.1, .1 becomes .2, and so on up to
/// <c>max_files</c>; the oldest is deleted. Created 0600 (client addresses are personal data), its folder 0700 when
/// missing. Used by one thread only (<see cref="AccessLogWriter"/>'s background task).
/// </summary>
internal sealed class RotatingLogFile : IDisposable
{
    private readonly string _path;
    private readonly long _maxSize;
    private readonly int _maxFiles;
    private FileStream _stream;
    private long _size;
    private byte[] _bytes = new byte[1024];

    public RotatingLogFile(string path, long maxSize, int maxFiles)
    {
        (_path, _maxSize, _maxFiles) = (Path.GetFullPath(path), maxSize, maxFiles);
        if (Path.GetDirectoryName(_path) is { Length: > 0 } folder)
        {
            PrivateFiles.CreateFolder(folder);
        }
        _stream = Open();
    }

    public string FilePath => _path;

    /// <summary>Appends <paramref name="line"/> and a newline, rotating first when the file would grow past its limit.</summary>
    public void WriteLine(StringBuilder line)
    {
        var count = Utf8Line.Encode(line, ref _bytes);
        if (_size > 0 && _size + count > _maxSize)
        {
            Rotate();
        }
        _stream.Write(_bytes, 0, count);
        _size += count;
    }

    /// <summary>Hands what is buffered to the OS (after each batch, so a quiet edge's lines are never held back).</summary>
    public void Flush() => _stream.Flush();

    public void Dispose() => _stream.Dispose();

    private void Rotate()
    {
        _stream.Dispose();
        File.Delete(Numbered(_maxFiles));
        for (var i = _maxFiles - 1; i >= 1; i--)
        {
            if (File.Exists(Numbered(i)))
            {
                File.Move(Numbered(i), Numbered(i + 1), overwrite: true);
            }
        }
        File.Move(_path, Numbered(1), overwrite: true);
        _stream = Open();
    }

    private string Numbered(int i) => _path + "." + i.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private FileStream Open()
    {
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read, BufferSize = 64 * 1024 };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = PrivateFiles.OwnerOnly;
        }
        var stream = new FileStream(_path, options);
        _size = stream.Length;
        return stream;
    }
}
