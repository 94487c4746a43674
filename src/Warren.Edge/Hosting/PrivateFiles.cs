using System.Security.Cryptography;
using System.Text;

namespace Warren.Edge.Hosting;

/// <summary>
/// Files and folders the edge keeps secrets in (docs/security.md, "The data folder"), created with their final
/// permissions from the first byte: a folder 0700, a file 0600 unless a wider mode is asked for. Writing first and
/// chmod-ing after leaves a window in which another local user may open the file, and an open descriptor outlives the
/// chmod. On Windows the modes do not apply and the folder's ACLs are inherited.
/// </summary>
internal static class PrivateFiles
{
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode WorldReadable = OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode OwnerOnlyFolder = OwnerOnly | UnixFileMode.UserExecute;

    /// <summary>Creates <paramref name="folder"/> (and its parents) 0700 when missing; an existing folder keeps the mode its owner gave it.</summary>
    public static void CreateFolder(string folder)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, OwnerOnlyFolder);
        }
    }

    /// <summary>Creates <paramref name="path"/> empty with <paramref name="mode"/> if it does not exist yet (a database about to be opened).</summary>
    public static void CreateIfMissing(string path, UnixFileMode mode = OwnerOnly)
    {
        try
        {
            using var _ = new FileStream(path, Options(FileMode.CreateNew, mode));
        }
        catch (IOException) when (File.Exists(path))
        {
            // Already there (or created by another process meanwhile): its mode is its owner's business.
        }
    }

    /// <summary>Writes a temporary file created with <paramref name="mode"/> (so it is never wider), then renames it over <paramref name="path"/>.</summary>
    public static void WriteAtomically(string path, string text, UnixFileMode mode = OwnerOnly)
    {
        var temporary = path + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        using (var stream = new FileStream(temporary, Options(FileMode.CreateNew, mode)))
        {
            stream.Write(Encoding.UTF8.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    private static FileStreamOptions Options(FileMode fileMode, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = fileMode, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }
        return options;
    }
}
