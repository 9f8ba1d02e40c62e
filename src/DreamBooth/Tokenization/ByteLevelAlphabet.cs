namespace DreamBooth.Tokenization;

/// <summary>
/// GPT-2/CLIP's reversible map between the 256 byte values and 256 printable characters (<c>bytes_to_unicode</c>):
/// the printable Latin-1 bytes <c>!</c>..<c>~</c>, <c>¡</c>..<c>¬</c>, <c>®</c>..<c>ÿ</c> map to themselves, and the
/// remaining 68 bytes (controls, space, soft hyphen…) map in byte order to U+0100, U+0101, … so that BPE never sees
/// whitespace or control characters. Every mapped character is a single UTF-16 unit below U+0144.
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>Character for each byte value.</summary>
    public static IReadOnlyList<char> ByteToChar { get; } = Build();

    /// <summary>Byte value for each mapped character, -1 for characters outside the alphabet (indexed by char code).</summary>
    private static readonly short[] CharToByteTable = BuildInverse();

    /// <summary>The byte that <paramref name="c"/> stands for, or null when <paramref name="c"/> is not in the alphabet.</summary>
    public static byte? CharToByte(char c) => c < CharToByteTable.Length && CharToByteTable[c] >= 0 ? (byte)CharToByteTable[c] : null;

    private static char[] Build()
    {
        var map = new char[256];
        var isPrintable = new bool[256];
        for (int b = '!'; b <= '~'; b++) isPrintable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) isPrintable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) isPrintable[b] = true;
        int next = 0;
        for (int b = 0; b < 256; b++) map[b] = isPrintable[b] ? (char)b : (char)(256 + next++);
        return map;
    }

    private static short[] BuildInverse()
    {
        var inverse = new short[256 + 68];
        Array.Fill(inverse, (short)-1);
        for (int b = 0; b < 256; b++) inverse[ByteToChar[b]] = (short)b;
        return inverse;
    }
}
