using System.Security.Cryptography;
using System.Text;

namespace Warren.Edge.Cluster;

/// <summary>
/// How two edges prove to each other that they hold the cluster secret, on the edge-to-edge link after TLS and before
/// the multiplexer's HELLO (docs/cluster.md, "The peer handshake"). The secret itself never crosses the wire: each side
/// sends a fresh 32-byte nonce, and each proves the secret with an HMAC-SHA256 over both nonces, both names and the
/// SHA-256 of the listener's TLS certificate, under its own label (a listener's proof can never pass as a dialer's).
/// The certificate in the proofs binds them to this TLS connection: a relay that terminates TLS with another
/// certificate cannot pass them on. Every length is fixed or bounded before anything is read.
/// <code>
/// dialer   → listener: "WPR1" | nonce_d (32) | len u8 (1..64) | name_d
/// listener → dialer:   "WPR1" | nonce_l (32) | len u8 (1..64) | name_l | proof_l (32)
/// dialer   → listener: proof_d (32)
/// listener → dialer:   0x00 (accepted; on refusal the listener closes the connection instead)
/// proof_x = HMAC-SHA256(UTF-8(secret), label_x | 0x00 | fingerprint (32) | nonce_d | nonce_l | name_d | 0x00 | name_l)
/// label_l = "warren peer listener", label_d = "warren peer dialer"
/// </code>
/// </summary>
internal static class PeerHandshake
{
    public const int NonceSize = 32;
    public const int ProofSize = 32;
    public const int MaxNameLength = 64;
    public const byte Accepted = 0;
    private static readonly byte[] Magic = "WPR1"u8.ToArray();
    private static readonly byte[] ListenerLabel = Encoding.ASCII.GetBytes("warren peer listener");
    private static readonly byte[] DialerLabel = Encoding.ASCII.GetBytes("warren peer dialer");

    /// <summary>
    /// The dialer's side. <paramref name="fingerprint"/>: SHA-256 of the certificate the listener presented (32 zero
    /// bytes on a plain link). Returns the listener's name; throws <see cref="PeerAuthException"/> when the listener
    /// cannot prove the secret or refuses ours.
    /// </summary>
    public static async Task<string> DialAsync(Stream stream, string secret, string name, byte[] fingerprint, CancellationToken cancellationToken)
    {
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        await stream.WriteAsync(Hello(nonce, name), cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        var (peerNonce, peerName) = await ReadHelloAsync(stream, cancellationToken).ConfigureAwait(false);
        var proof = new byte[ProofSize];
        await stream.ReadExactlyAsync(proof, cancellationToken).ConfigureAwait(false);
        var expected = Proof(secret, ListenerLabel, fingerprint, nonce, peerNonce, name, peerName);
        if (!CryptographicOperations.FixedTimeEquals(proof, expected))
        {
            throw new PeerAuthException($"edge '{peerName}' could not prove the cluster secret (a different cluster.secret?)");
        }
        await stream.WriteAsync(Proof(secret, DialerLabel, fingerprint, nonce, peerNonce, name, peerName), cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        var answer = new byte[1];
        if (await stream.ReadAtLeastAsync(answer, 1, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) != 1 || answer[0] != Accepted)
        {
            throw new PeerAuthException($"edge '{peerName}' refused this edge's proof of the cluster secret");
        }
        return peerName;
    }

    /// <summary>
    /// The listener's side. <paramref name="fingerprint"/>: SHA-256 of this edge's own link certificate. Returns the
    /// dialer's name; throws <see cref="PeerAuthException"/> when its proof is wrong (nothing more is sent then).
    /// </summary>
    public static async Task<string> ListenAsync(Stream stream, string secret, string name, byte[] fingerprint, CancellationToken cancellationToken)
    {
        var (peerNonce, peerName) = await ReadHelloAsync(stream, cancellationToken).ConfigureAwait(false);
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        var hello = Hello(nonce, name);
        var proof = Proof(secret, ListenerLabel, fingerprint, peerNonce, nonce, peerName, name);
        await stream.WriteAsync((byte[])[.. hello, .. proof], cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        var theirs = new byte[ProofSize];
        await stream.ReadExactlyAsync(theirs, cancellationToken).ConfigureAwait(false);
        if (!CryptographicOperations.FixedTimeEquals(theirs, Proof(secret, DialerLabel, fingerprint, peerNonce, nonce, peerName, name)))
        {
            throw new PeerAuthException($"'{peerName}' could not prove the cluster secret (a different cluster.secret?)");
        }
        await stream.WriteAsync(new[] { Accepted }, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        return peerName;
    }

    private static byte[] Hello(byte[] nonce, string name)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name);
        return [.. Magic, .. nonce, (byte)nameBytes.Length, .. nameBytes];
    }

    private static async Task<(byte[] Nonce, string Name)> ReadHelloAsync(Stream stream, CancellationToken cancellationToken)
    {
        var head = new byte[Magic.Length + NonceSize + 1];
        await stream.ReadExactlyAsync(head, cancellationToken).ConfigureAwait(false);
        if (!head.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new PeerAuthException("not a Warren edge-to-edge handshake");
        }
        int length = head[^1];
        if (length is 0 or > MaxNameLength)
        {
            throw new PeerAuthException($"an edge name of {length} bytes (1 to {MaxNameLength})");
        }
        var name = new byte[length];
        await stream.ReadExactlyAsync(name, cancellationToken).ConfigureAwait(false);
        foreach (var b in name)
        {
            // cluster.name's characters (Validator.Cluster.cs): anything else is no edge of ours.
            if (!(char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_' or (byte)'.'))
            {
                throw new PeerAuthException("an edge name with characters cluster.name does not allow");
            }
        }
        return (head.AsSpan(Magic.Length, NonceSize).ToArray(), Encoding.ASCII.GetString(name));
    }

    private static byte[] Proof(string secret, byte[] label, byte[] fingerprint, byte[] dialerNonce, byte[] listenerNonce, string dialer, string listener)
    {
        byte[] message = [.. label, 0, .. fingerprint, .. dialerNonce, .. listenerNonce, .. Encoding.ASCII.GetBytes(dialer), 0, .. Encoding.ASCII.GetBytes(listener)];
        return HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message);
    }

    /// <summary>SHA-256 of a link certificate's DER bytes; 32 zero bytes for a plain link.</summary>
    public static byte[] Fingerprint(System.Security.Cryptography.X509Certificates.X509Certificate? certificate) =>
        certificate is null ? new byte[32] : SHA256.HashData(certificate.GetRawCertData());
}
