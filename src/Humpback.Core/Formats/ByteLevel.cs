namespace Humpback.Formats;

/// <summary>GPT-2's byte ↔ unicode map (openai/gpt-2 encoder.py bytes_to_unicode): printable bytes
/// (33–126, 161–172, 174–255) stand for themselves, the other 68 map to U+0100 onward in byte order.
/// Byte-level BPE vocabularies (Llama 3, GPT-2) store tokens as strings of these characters.</summary>
public static class ByteLevel
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    public static char Char(byte b) => ByteToChar[b];

    public static bool TryByte(char c, out byte b) => CharToByte.TryGetValue(c, out b);

    /// <summary>Byte-level text of raw bytes (one char per byte).</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        return string.Create(bytes.Length, bytes.ToArray(), static (span, src) =>
        {
            for (int i = 0; i < src.Length; i++) span[i] = ByteToChar[src[i]];
        });
    }

    /// <summary>Raw bytes of a byte-level token text; false if a char is outside the map.</summary>
    public static bool TryDecode(string text, List<byte> output)
    {
        foreach (char c in text)
        {
            if (!CharToByte.TryGetValue(c, out byte b)) return false;
            output.Add(b);
        }
        return true;
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var d = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) d[ByteToChar[b]] = (byte)b;
        return d;
    }
}
