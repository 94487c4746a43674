namespace Warren.Edge.Inspector;

/// <summary>The first <c>inspector.max_body</c> bytes of a body, and how many there were in all. Grows as bytes come; never past the bound.</summary>
internal sealed class BodyCapture(int max)
{
    private readonly Lock _lock = new();
    private byte[] _data = [];
    private int _length;
    private long _total;

    public long Total
    {
        get
        {
            lock (_lock)
            {
                return _total;
            }
        }
    }

    public bool Truncated => Total > _length;

    public void Append(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            _total += bytes.Length;
            var room = max - _length;
            if (room <= 0 || bytes.IsEmpty)
            {
                return;
            }
            var take = Math.Min(room, bytes.Length);
            if (_length + take > _data.Length)
            {
                Array.Resize(ref _data, Math.Min(max, Math.Max(_length + take, Math.Max(1024, _data.Length * 2))));
            }
            bytes[..take].CopyTo(_data.AsSpan(_length));
            _length += take;
        }
    }

    public byte[] Snapshot()
    {
        lock (_lock)
        {
            return _data.AsSpan(0, _length).ToArray();
        }
    }
}
