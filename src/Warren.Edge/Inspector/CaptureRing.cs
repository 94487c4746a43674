namespace Warren.Edge.Inspector;

/// <summary>The last <c>inspector.max_requests</c> captures of one service, newest last; older ones are forgotten.</summary>
internal sealed class CaptureRing(int capacity)
{
    private readonly Lock _lock = new();
    private readonly Queue<Capture> _captures = new();

    public void Add(Capture capture)
    {
        lock (_lock)
        {
            if (_captures.Count >= capacity)
            {
                _captures.Dequeue();
            }
            _captures.Enqueue(capture);
        }
    }

    public IReadOnlyList<Capture> Snapshot()
    {
        lock (_lock)
        {
            return [.. _captures];
        }
    }

    public Capture? Find(long id)
    {
        lock (_lock)
        {
            return _captures.FirstOrDefault(c => c.Id == id);
        }
    }
}
