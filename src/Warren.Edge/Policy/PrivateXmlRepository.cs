using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Warren.Edge.Policy;

/// <summary>
/// Where the edge keeps its Data Protection keys (the keys behind OIDC session cookies and login state):
/// <c>{data}/oidc-keys</c>, the folder 0700 and each key file 0600 from the moment it is created (written to a
/// temporary file, then renamed), since on Linux the keys are stored unencrypted (docs/security.md). Kept across
/// restarts, so signed-in users stay signed in.
/// </summary>
internal sealed class PrivateXmlRepository : IXmlRepository
{
    private const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode KeyFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly DirectoryInfo _folder;

    public PrivateXmlRepository(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "oidc-keys");
        _folder = OperatingSystem.IsWindows() ? Directory.CreateDirectory(path) : Directory.CreateDirectory(path, FolderMode);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, FolderMode); // a folder made earlier with a looser mode is tightened
        }
    }

    public string Folder => _folder.FullName;

    public IReadOnlyCollection<XElement> GetAllElements() =>
        [.. _folder.EnumerateFiles("*.xml", SearchOption.TopDirectoryOnly).Select(file => XElement.Load(file.FullName))];

    public void StoreElement(XElement element, string friendlyName)
    {
        ArgumentNullException.ThrowIfNull(element);
        var name = string.IsNullOrWhiteSpace(friendlyName) || friendlyName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 ? Guid.NewGuid().ToString() : friendlyName;
        var temporary = Path.Combine(_folder.FullName, Guid.NewGuid().ToString("N") + ".tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = KeyFileMode;
        }
        using (var stream = new FileStream(temporary, options))
        {
            element.Save(stream);
        }
        File.Move(temporary, Path.Combine(_folder.FullName, name + ".xml"), overwrite: false);
    }
}
