// A sample file to try Spectral Soup on: type below and wait for the ghost text; Tab accepts, Escape dismisses.
// Every accept and dismiss teaches this workspace's preferences (see "Spectral Soup: Show Engine Log").

export interface Item {
  name: string;
  price: number;
  quantity: number;
}

export function subtotal(items: Item[]): number {
  return items.reduce((sum, item) => sum + item.price * item.quantity, 0);
}

