using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Warren.Edge.Hosting;

namespace Warren.Edge.Acme;

/// <summary>
/// What the edge keeps of ACME in <c>{data}/acme/{CA}/</c> (docs/https.md "Files"): the account key and URL, and per
/// certificate <c>certificates/{name}/cert.pem</c> (chain, leaf first) and <c>key.pem</c>. One folder per directory
/// URL, so staging certificates are never served once production is configured. Private keys are created 0600 in a
/// 0700 folder (never readable by others, not even for a moment) and replaced atomically by rename.
/// </summary>
internal sealed class CertificateStore
{
    private const UnixFileMode PrivateFile = PrivateFiles.OwnerOnly;

    public CertificateStore(string dataDirectory, Uri directoryUrl)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(directoryUrl.AbsoluteUri)))[..12];
        Root = Path.Combine(dataDirectory, "acme", $"{Sanitize(directoryUrl.Host)}-{hash}");
    }

    public string Root { get; }

    private string AccountKeyPath => Path.Combine(Root, "account.key");

    private string AccountPath => Path.Combine(Root, "account.json");

    /// <summary>The account key, created (and saved 0600) on first use.</summary>
    public ECDsa LoadOrCreateAccountKey()
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        if (File.Exists(AccountKeyPath))
        {
            key.ImportFromPem(File.ReadAllText(AccountKeyPath));
            return key;
        }
        WritePrivate(AccountKeyPath, key.ExportPkcs8PrivateKeyPem());
        return key;
    }

    /// <summary>The account URL saved after registration, if any.</summary>
    public Uri? LoadAccountUrl()
    {
        if (!File.Exists(AccountPath))
        {
            return null;
        }
        using var document = JsonDocument.Parse(File.ReadAllText(AccountPath));
        return document.RootElement.TryGetProperty("url", out var url) && Uri.TryCreate(url.GetString(), UriKind.Absolute, out var parsed) ? parsed : null;
    }

    public void SaveAccountUrl(Uri url, string? email)
    {
        EnsureRoot();
        WriteAtomically(AccountPath, JsonSerializer.Serialize(new AccountFile(url.AbsoluteUri, email), AcmeJson.Default.AccountFile), PrivateFiles.WorldReadable);
    }

    public void ForgetAccount()
    {
        File.Delete(AccountPath);
    }

    /// <summary>The folder name of a certificate: its first name, "*" spelled "_wildcard" (no glob characters on disk).</summary>
    public static string KeyOf(string name) => name.StartsWith("*.", StringComparison.Ordinal) ? "_wildcard" + name[1..] : name;

    /// <summary>Saves a certificate: the key first (0600), then the chain, so a chain on disk always has its key.</summary>
    public void Save(string key, string chainPem, string keyPem)
    {
        var folder = CertificateFolder(key);
        EnsureFolder(folder);
        WritePrivate(Path.Combine(folder, "key.pem.next"), keyPem);
        WriteAtomically(Path.Combine(folder, "cert.pem.next"), chainPem, PrivateFiles.WorldReadable);
        File.Move(Path.Combine(folder, "key.pem.next"), Path.Combine(folder, "key.pem"), overwrite: true);
        File.Move(Path.Combine(folder, "cert.pem.next"), Path.Combine(folder, "cert.pem"), overwrite: true);
    }

    /// <summary>Every stored certificate with its key, by folder name; unreadable ones are reported, not fatal.</summary>
    public IEnumerable<(string Key, X509Certificate2Collection Chain, string? Error)> LoadAll()
    {
        var certificates = Path.Combine(Root, "certificates");
        if (!Directory.Exists(certificates))
        {
            yield break;
        }
        foreach (var folder in Directory.EnumerateDirectories(certificates).Order(StringComparer.Ordinal))
        {
            var key = Path.GetFileName(folder);
            X509Certificate2Collection? chain = null;
            string? error = null;
            try
            {
                chain = LoadChain(Path.Combine(folder, "cert.pem"), Path.Combine(folder, "key.pem"));
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
            {
                error = ex.Message;
            }
            yield return (key, chain ?? [], error);
        }
    }

    /// <summary>A PEM chain and its key: the leaf (first) with its private key, then the intermediates.</summary>
    public static X509Certificate2Collection LoadChain(string certPath, string keyPath)
    {
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certPath);
        if (all.Count == 0)
        {
            throw new CryptographicException($"{certPath} holds no certificate");
        }
        using var withKey = X509Certificate2.CreateFromPemFile(certPath, keyPath);
        // Re-imported so the private key is usable by SslStream on every platform (as EdgeCertificates.LoadPem).
        var leaf = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        var chain = new X509Certificate2Collection { leaf };
        for (var i = 1; i < all.Count; i++)
        {
            chain.Add(all[i]);
        }
        all[0].Dispose();
        return chain;
    }

    private string CertificateFolder(string key) => Path.Combine(Root, "certificates", Sanitize(key));

    private void EnsureRoot() => EnsureFolder(Root);

    private static void EnsureFolder(string folder) => PrivateFiles.CreateFolder(folder);

    private static void WritePrivate(string path, string text)
    {
        EnsureFolder(Path.GetDirectoryName(path)!);
        WriteAtomically(path, text, PrivateFile);
    }

    private static void WriteAtomically(string path, string text, UnixFileMode mode) => PrivateFiles.WriteAtomically(path, text, mode);

    /// <summary>Names come from the config and from grants (hostnames already validated); this only keeps paths flat.</summary>
    private static string Sanitize(string name) => new([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_')]);
}
