namespace Warren.Testing.Clients;

/// <summary>Checks the sample backend's /bytes/{n} content (byte i = i mod 251) chunk by chunk, without keeping any of it.</summary>
internal sealed class Mod251Verifier
{
    private int _next;

    public long Verified { get; private set; }

    /// <summary>Fails the test at the first wrong byte, naming its offset.</summary>
    public void Check(ReadOnlySpan<byte> chunk)
    {
        var next = _next;
        for (var i = 0; i < chunk.Length; i++)
        {
            if (chunk[i] != next)
            {
                Assert.Fail($"byte {Verified + i} is {chunk[i]}, expected {next}");
            }
            next = next == 250 ? 0 : next + 1;
        }
        _next = next;
        Verified += chunk.Length;
    }
}
